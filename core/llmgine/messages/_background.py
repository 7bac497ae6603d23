"""Background subscribers: each runs off a bounded queue of its own.

``subscribe_event(..., background=True)`` asks :meth:`BackgroundQueues.make` for what
turns the user's subscriber into the one delivery calls: a plain put onto a queue
(:mod:`._background_queue`), drained in order by a thread or an event-loop task
(:mod:`._background_workers`). This module holds the bus's side: the settings'
checks, ``drain()``/``drain_async()``, and what a strict bus keeps for them to raise.
docs/guide/background.md says what users see.
"""

from __future__ import annotations

import logging
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
from ._background_reports import drop_report
from ._background_settle import wait_settled, wait_settled_async
from ._background_workers import TaskQueue, ThreadQueue
from ._delivery import REPORT
from .errors import AsyncHandlerError, BackgroundError, SubscriberError

if TYPE_CHECKING:
    from ._delivery import Delivery
    from ._registry import SubscriberRegistry
    from ._subscribers import MakeBackground, Subscriber
    from .events import SystemEvent

__all__ = ["OVERFLOWS", "BackgroundQueues", "Overflow", "check_foreground"]

_log = logging.getLogger("llmgine.bus")
_DROPPED = "a background failure not raised by drain(): reset() or restore() came first"


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
        #: what a strict bus raises from the next drain(): failures in the background,
        #: each with the queue whose subscriber failed (``None``: not one queue's)
        self.errors: list[tuple[BackgroundQueue | None, Exception]] = []
        #: the queues with drops not reported yet (``drain()`` reports them)
        self.unreported: set[BackgroundQueue] = set()

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

    def stash(self, error: Exception, queue: BackgroundQueue | None) -> None:
        """Keep a strict bus's background failure (of ``queue``'s subscriber) for the next
        ``drain()`` to raise; only logged if ``reset()``/``restore()`` removed ``queue``'s
        subscription while it handled the event (see :meth:`forget`)."""
        with self.lock:
            if queue is None or queue.taken_in == queue.generation:
                self.errors.append((queue, error))
                return
        _log.error(_DROPPED, exc_info=error)

    def forget(self) -> None:
        """After ``reset()``/``restore()``: drop (and log) the failures kept for subscribers
        whose subscriptions they removed, which must not fail the next ``drain()``."""
        with self.lock:
            errors = self.errors
            self.errors = [(q, e) for q, e in errors if q is not None and q.active]
            gone = [e for q, e in errors if q is None or not q.active]
        for error in gone:
            _log.error(_DROPPED, exc_info=error)

    def has_unreported(self, queue: BackgroundQueue) -> None:
        """``queue`` dropped an event (its lock held): ``drain()`` reports what is left."""
        with self.lock:
            self.unreported.add(queue)

    def wait_on(self, queue: BackgroundQueue) -> BackgroundQueue | None:
        """The code here is about to wait for room on ``queue`` (its lock held). If it is a
        background worker, record that (and return its queue, for :meth:`done_waiting`);
        raise :class:`BackgroundError` if ``queue``'s worker waits, directly or through
        others, for room on the worker's own queue: they would wait for each other."""
        worker = current_background.get()
        if worker is None or not worker.worker_here():
            return None
        with self.lock:
            chain: list[str] = [worker.name]
            seen: BackgroundQueue | None = queue
            while seen is not None:
                chain.append(seen.name)
                if seen is worker:
                    raise BackgroundError(
                        f"background subscriber {worker.name} published an event to "
                        f"{queue.name}, whose queue is full ({queue.max_pending} pending, "
                        "overflow='wait'), while they wait for room in each other's queues ("
                        + " -> ".join(chain)
                        + "): they would wait for ever. Raise max_pending or use a drop "
                        "overflow for one of them"
                    )
                seen = seen.waiting_on
            worker.waiting_on = queue
        return worker

    def done_waiting(self, worker: BackgroundQueue) -> None:
        """``worker``'s worker no longer waits for room (see :meth:`wait_on`)."""
        with self.lock:
            worker.waiting_on = None

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
            for queue in busy:
                wait_settled(queue)
            if busy:
                continue
            reports = self._due_reports()
            if not reports:
                break
            try:  # (their background subscribers may make queues busy again: look again)
                self.delivery.publish(reports, 1, REPORT)
            except SubscriberError as exc:
                self.stash(exc, None)
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
            for queue in busy:
                await wait_settled_async(queue, loop)
            if busy:
                continue
            reports = self._due_reports()
            if not reports:
                break
            try:
                await self.delivery.publish_async(reports, 1, REPORT)
            except SubscriberError as exc:
                self.stash(exc, None)
        self._raise_kept()

    def _due_reports(self) -> list[SystemEvent]:
        """The reports of drops not reported yet (rate limit or not: they are the last)."""
        with self.lock:
            queues, self.unreported = self.unreported, set()
        found = (drop_report(q, q.dropped_type, interval=0.0) for q in queues)
        return [report for report in found if report is not None]

    def _refuse_inside(self, what: str) -> None:
        current = current_background.get()
        if current is not None:
            raise BackgroundError(
                f"{what}() was called inside background subscriber {current.name}, which would "
                "wait for itself to finish; drain from the code that publishes instead"
            )

    def _raise_kept(self) -> None:
        with self.lock:
            errors, self.errors = [e for _, e in self.errors], []
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ExceptionGroup(f"{len(errors)} failures in background subscribers", errors)
