"""Background subscribers: each runs off a bounded queue of its own.

``subscribe_event(..., background=True)`` asks :meth:`BackgroundQueues.make` for what
turns the user's subscriber into the one delivery calls: a plain put onto a queue
(:mod:`._background_queue`), drained in order by a thread or an event-loop task
(:mod:`._background_workers`). This module holds the bus's side: the settings'
checks, ``drain()``/``drain_async()``, and what a strict bus keeps for them to raise.
docs/guide/background.md says what users see.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from weakref import WeakSet

from ._background_queue import (
    OVERFLOWS,
    BackgroundQueue,
    Overflow,
    current_background,
    running_loop,
)
from ._background_workers import TaskQueue, ThreadQueue
from .errors import AsyncHandlerError, BackgroundError

if TYPE_CHECKING:
    from ._delivery import Delivery
    from ._registry import SubscriberRegistry
    from ._subscribers import MakeBackground, Subscriber

__all__ = ["OVERFLOWS", "BackgroundQueues", "Overflow", "check_foreground"]


def check_foreground(max_pending: int, overflow: str, at_most_once: bool) -> None:
    """Refuse the background-only options on a subscription that is not ``background``."""
    if max_pending != 1000 or overflow != "wait" or at_most_once:
        raise TypeError(
            "max_pending, overflow and at_most_once apply to background subscribers only: "
            "pass background=True too"
        )


def check_settings(max_pending: object, overflow: object, at_most_once: object) -> None:
    """Refuse settings a background queue cannot have, naming the value at fault."""
    if max_pending.__class__ is not int:  # (not a bool either)
        raise TypeError(f"max_pending must be an int (at least 1), got {max_pending!r}")
    if max_pending < 1:
        raise ValueError(
            f"max_pending must be at least 1, got {max_pending}: it is how many events a "
            "background subscriber's queue holds"
        )
    if overflow not in OVERFLOWS:
        raise ValueError(
            f"overflow must be one of {', '.join(repr(o) for o in OVERFLOWS)}, got {overflow!r}"
        )
    if at_most_once.__class__ is not bool:
        raise TypeError(f"at_most_once must be True or False, got {at_most_once!r}")


class BackgroundQueues:
    """The background subscribers' queues of one bus."""

    def __init__(self, delivery: Delivery, registry: SubscriberRegistry) -> None:
        self.delivery = delivery
        self.registry = registry
        #: guards ``busy`` and ``errors`` (taken inside a queue's lock, never around one)
        self.lock = threading.Lock()
        #: the queues with work: events queued or being handled, or publishers waiting
        self.busy: set[BackgroundQueue] = set()
        #: every queue drained on an event loop (for drain()'s check of the current loop)
        self.on_loops: WeakSet[TaskQueue] = WeakSet()
        #: what a strict bus raises from the next drain(): failures in the background
        self.errors: list[Exception] = []

    def make(self, max_pending: int, overflow: Overflow, at_most_once: bool) -> MakeBackground:
        """What turns a subscriber into a background one with these settings."""
        check_settings(max_pending, overflow, at_most_once)

        def make(subscriber: Subscriber) -> Subscriber:
            if not subscriber.is_async:
                return ThreadQueue(self, subscriber, max_pending, overflow, at_most_once).outer
            queue = TaskQueue(self, subscriber, max_pending, overflow, at_most_once)
            with self.lock:
                self.on_loops.add(queue)
            return queue.outer

        return make

    def stash(self, error: Exception) -> None:
        """Keep a strict bus's background failure for the next ``drain()`` to raise."""
        with self.lock:
            self.errors.append(error)

    def drain(self) -> None:
        """Wait until every queue is empty and its subscriber idle; then raise what a
        strict bus kept (one error, or an ``ExceptionGroup`` of several)."""
        self._refuse_inside("drain")
        loop = running_loop()
        if loop is not None:
            names = sorted(q.name for q in list(self.on_loops) if q.loop is loop and q.in_use())
            if names:
                raise AsyncHandlerError(
                    f"drain() (or close()) was called on the event loop that runs async "
                    f"background subscriber(s) {', '.join(names)}: it would block the loop they "
                    "need; use 'await bus.drain_async()' (or 'await bus.aclose()')"
                )
        while True:
            with self.lock:
                busy = list(self.busy)
            if not busy:
                break
            for queue in busy:
                queue.wait_settled()
        self._raise_kept()

    async def drain_async(self) -> None:
        """Like :meth:`drain`, awaiting the queues drained on the running loop (and the
        others without blocking it)."""
        import asyncio

        self._refuse_inside("drain_async")
        loop = asyncio.get_running_loop()
        while True:
            with self.lock:
                busy = list(self.busy)
            if not busy:
                break
            for queue in busy:
                await queue.wait_settled_async(loop)
        self._raise_kept()

    def _refuse_inside(self, what: str) -> None:
        current = current_background.get()
        if current is not None:
            raise BackgroundError(
                f"{what}() was called inside background subscriber {current.name}, which would "
                "wait for itself to finish; drain from the code that publishes instead"
            )

    def _raise_kept(self) -> None:
        with self.lock:
            errors, self.errors = self.errors, []
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ExceptionGroup(f"{len(errors)} failures in background subscribers", errors)
