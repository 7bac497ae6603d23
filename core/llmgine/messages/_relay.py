"""Publishing queued events, and the bus's side of a transport.

A transport gets an outbox for events going out and ``deliver`` for those coming
in; see :mod:`llmgine.messages.transport` for the contract. With no outbox,
publishing pays one attribute check for it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Collection, Sequence

from ._delivery import DIRECT, QUEUED, Delivery, Failure, entries
from ._scope import DEPTH, get_scope
from .errors import SubscriberError
from .events import Event
from .transport import Outbox

__all__ = ["Relay"]

_Queue = deque[tuple[Event, int, int]]


class Relay(Delivery):
    """The part of :class:`~llmgine.messages.bus.MessageBus` that talks to a transport."""

    _lock: threading.Lock
    _outbox: Outbox | None

    def attach_outbox(self, outbox: Outbox) -> None:
        """Hand every event this bus publishes to ``outbox`` first, as part of the publish.

        Raises ``ValueError`` if another outbox is attached: detach it first.
        """
        if not isinstance(outbox, Outbox):
            raise TypeError(
                f"attach_outbox() needs send() and send_async() methods, got {outbox!r}"
            )
        with self._lock:
            if self._outbox is not None and self._outbox is not outbox:
                raise ValueError(
                    f"bus already has outbox {self._outbox!r}; call detach_outbox() first"
                )
            self._outbox = outbox

    def detach_outbox(self) -> Outbox | None:
        """Stop handing events to the attached outbox; return it (``None`` if there was none)."""
        with self._lock:
            outbox, self._outbox = self._outbox, None
        return outbox

    @property
    def outbox(self) -> Outbox | None:
        """The attached outbox, if any."""
        return self._outbox

    def deliver(self, event: Event, only: Collection[str] | None = None) -> list[Failure]:
        """Run the local subscribers of an event that arrived from another process.

        Unlike :meth:`emit`, ``event`` itself is never handed to the outbox (no echo),
        though events its subscribers queue are published as usual. ``only`` limits
        delivery to the subscribers with these names (``Subscriber.name``; a retry of
        those that failed). Returns the ``(subscriber, exception)`` pairs of ``event``'s
        subscribers that failed, also on a strict bus, where these are returned instead
        of raised; a failure on an event they queued still raises ``SubscriberError``
        there (and is reported as usual elsewhere). Subscriber names are unique per bus.
        """
        if not isinstance(event, Event):
            raise TypeError(f"deliver() needs an Event instance, got {event!r}")
        scope = get_scope()
        queue: _Queue = deque()
        try:
            failures = list(
                self._deliver(event, scope[DEPTH] + 1 if scope else 1, DIRECT, queue, only)
            )
        except SubscriberError as error:
            failures = self._failures_of(event, error)
        self._drain_out(queue)
        return failures

    async def deliver_async(
        self, event: Event, only: Collection[str] | None = None
    ) -> list[Failure]:
        """Like :meth:`deliver`, awaiting ``async def`` subscribers."""
        if not isinstance(event, Event):
            raise TypeError(f"deliver_async() needs an Event instance, got {event!r}")
        scope = get_scope()
        depth = scope[DEPTH] + 1 if scope else 1
        queue: _Queue = deque()
        try:
            failures = await self._deliver_async(event, depth, DIRECT, queue, only)
        except SubscriberError as error:
            failures = self._failures_of(event, error)
        await self._drain_out_async(queue)
        return failures

    def _failures_of(self, event: Event, error: SubscriberError) -> list[Failure]:
        if error.event is not event or not error._failures:
            raise error
        # Strict mode raised after running every subscriber: turn it back into failures.
        return list(error._failures)

    def _drain_out(self, queue: _Queue) -> None:
        # One generation at a time: hand it to the outbox, then deliver it locally.
        # First in, first out, so the delivery order is that of the plain loop.
        outbox = self._outbox
        while queue:
            if outbox is not None:
                outbox.send([item[0] for item in queue])
            generation, queue = queue, deque()
            while generation:
                self._deliver(*generation.popleft(), queue)

    async def _drain_out_async(self, queue: _Queue) -> None:
        outbox = self._outbox
        while queue:
            if outbox is not None:
                await outbox.send_async([item[0] for item in queue])
            generation, queue = queue, deque()
            while generation:
                await self._deliver_async(*generation.popleft(), queue)

    def _publish(self, events: Sequence[Event], depth: int) -> None:
        if self._outbox is not None:
            self._drain_out(deque(entries(events, depth, QUEUED)))
            return
        # The given events go straight to delivery and only what they cause is queued
        # (most events cause nothing, so most publishes never build a deque). Still
        # breadth-first: all of ``events`` are delivered before anything they caused.
        caused: list[tuple[Event, int, int]] = []
        for event in events:
            self._deliver(event, depth, QUEUED, caused)
        if caused:
            self._drain(caused)

    def _drain(self, caused: list[tuple[Event, int, int]]) -> None:
        queue = deque(caused)
        while queue:
            event, depth, kind = queue.popleft()
            self._deliver(event, depth, kind, queue)

    async def _publish_async(self, events: Sequence[Event], depth: int) -> None:
        if self._outbox is not None:
            await self._drain_out_async(deque(entries(events, depth, QUEUED)))
            return
        # As _publish: only the events caused by ``events`` are queued.
        caused: list[tuple[Event, int, int]] = []
        for event in events:
            await self._deliver_async(event, depth, QUEUED, caused)
        if caused:
            await self._drain_async(caused)

    async def _drain_async(self, caused: list[tuple[Event, int, int]]) -> None:
        queue = deque(caused)
        while queue:
            event, depth, kind = queue.popleft()
            await self._deliver_async(event, depth, kind, queue)
