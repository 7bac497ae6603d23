"""One background subscriber's bounded queue: what a publish puts on it, and overflow.

A background subscriber's :class:`~._subscribers.Subscriber` (the one delivery calls)
has :meth:`BackgroundQueue.put` as its handler: a plain call that puts the event on
the queue and returns, so ``emit`` never waits for the work itself. What drains the
queue (a thread, or a task on an event loop) is in :mod:`._background_workers`.

Every field of a queue is guarded by its ``lock``: publishers may put from any thread.
A queue is *settled* when it holds no event, none is being handled and no publisher
waits for room; :mod:`._background_settle` says how ``drain()`` waits for that.
"""

from __future__ import annotations

import contextvars
import sys
import threading
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from ._background_reports import discarded, drop_report, overflow_error
from ._receipts import Receipt, receiving
from ._scope import get_scope, queue_pending
from ._subscribers import Subscriber
from .errors import BackgroundError

if TYPE_CHECKING:
    import asyncio

    from ._background import BackgroundQueues
    from .events import Event

__all__ = [
    "OVERFLOWS",
    "BackgroundQueue",
    "Item",
    "Overflow",
    "current_background",
    "running_loop",
]

#: What a full queue does with the next event: the publisher waits for room
#: (backpressure), the oldest queued event is dropped, or the new one is.
Overflow = Literal["wait", "drop_oldest", "drop_newest"]
OVERFLOWS: tuple[Overflow, ...] = ("wait", "drop_oldest", "drop_newest")

#: (event, its depth, the receipt a transport's delivery waits for, the publisher's context)
Item = tuple["Event", int, Receipt | None, contextvars.Context]

#: Why queued events are discarded (see :func:`._background_reports.discarded`).
FORGOTTEN = "reset() or restore() removed its subscription"
LOOP_CLOSED = (
    "its subscription was removed and its event loop has closed, so nothing can run them; "
    "'await bus.drain_async()' before a loop ends"
)

#: The queue whose subscriber is handling an event in this context (``None`` elsewhere):
#: what it must not wait for (its own room, ``drain()``), as it would wait for itself.
current_background: ContextVar[BackgroundQueue | None] = ContextVar(
    "llmgine_background", default=None
)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any (without importing ``asyncio``)."""
    asyncio = sys.modules.get("asyncio")
    return None if asyncio is None else asyncio.events._get_running_loop()


class BackgroundQueue:
    """One background subscriber's queue (the ``background`` of its subscriber).

    Subclasses say how it is drained: :meth:`wake` (lock held) tells whether a worker
    must be started by :meth:`start`; :meth:`prepare` runs before every put.
    """

    #: how often a ``drain()`` waiting for this queue looks again whether it can still
    #: settle (``None``: never needed; a queue drained on an event loop sets it)
    recheck: float | None = None
    #: whether every put calls :meth:`prepare` first
    needs_loop = False

    def __init__(
        self,
        owner: BackgroundQueues,
        subscriber: Subscriber,
        max_pending: int,
        overflow: Overflow,
        at_most_once: bool,
    ) -> None:
        self.owner = owner
        #: the user's subscriber, which the worker calls
        self.subscriber = subscriber
        self.name = subscriber.name
        self.max_pending = max_pending
        self.overflow = overflow
        #: whether a transport acknowledges the event without waiting for this subscriber
        self.at_most_once = at_most_once
        #: the subscriber delivery calls: it puts the event on this queue
        self.outer = Subscriber(self.put, False, subscriber.name, self)
        self.items: deque[Item] = deque()
        self.lock = threading.Lock()
        self.room = threading.Condition(self.lock)  # publishers wait here for room
        self.settled = threading.Condition(self.lock)  # drain() waits here
        #: callables to call once settled (or stalled): ``drain_async`` waiters
        self.watchers: list[Callable[[], Any]] = []
        #: how many events the queue dropped, and how many of them are not reported yet
        self.dropped = 0
        self.unreported = 0
        self.reported_at = -float("inf")
        self.busy = False  # an event is being handled
        self.waiting = 0  # publishers waiting for room
        self.active = True  # its subscription is current (see set_active)
        self.listed = False  # in the owner's set of queues with work
        #: bumped when reset()/restore() removes its subscription: what its worker is
        #: still doing for an event taken before publishes nothing (see ``forsaken``)
        self.generation = 0
        #: the generation in which the event being handled was taken off the queue
        self.taken_in = 0
        #: the queue whose room its worker waits for (guarded by the owner's lock): how
        #: a cycle of queues waiting for each other is found (see ``wait_on``)
        self.waiting_on: BackgroundQueue | None = None
        #: the type of the last event dropped (for the report of drops not reported yet)
        self.dropped_type = ""
        self.chains: dict[type, Callable[[Any], Any]] = {}
        self.chained_by: object = None

    # What subclasses provide ----------------------------------------------------------

    def prepare(self) -> None:
        """Before a put: make sure the queue can be drained (raise a clear error if not)."""

    def full_here(self) -> bool:
        """Whether a publisher here must not block for room (lock held)."""
        return False

    def put_later(self, item: Item) -> Any:
        """A coroutine that waits for room, then puts ``item`` (see :meth:`full_here`)."""
        raise NotImplementedError

    def wake(self) -> bool:
        """An event was added (lock held): whether :meth:`start` must start a worker."""
        raise NotImplementedError

    def start(self) -> None:
        """Start a worker (after :meth:`wake` said so)."""
        raise NotImplementedError

    def refuse_blocking_wait(self) -> None:
        """Raise if a ``deliver()`` here cannot block until this queue handled its event."""
        if current_background.get() is self:
            raise BackgroundError(
                f"deliver() was called inside background subscriber {self.name} for an event "
                "that subscriber receives: it would wait for itself. Deliver from elsewhere"
            )

    def stalled(self) -> str | None:
        """Why the queued events cannot be handled now (lock held); ``None``: they can."""
        return None

    def dead(self) -> bool:
        """Whether nothing can ever handle the queued events again unless it is published
        to again (lock held): an async subscriber's event loop has closed."""
        return False

    def worker_here(self) -> bool:
        """Whether the code running here is this queue's worker (handling its event)."""
        return current_background.get() is self

    # Putting ----------------------------------------------------------------------------

    def put(self, event: Event) -> Any:
        """Put ``event`` on the queue (the handler of :attr:`outer`), as the overflow policy
        says; ``None``, or a coroutine to await when the queue is full and the publisher
        must not block (see :meth:`full_here`)."""
        scope = get_scope()
        found = receiving.get()
        receipt = None
        if found is not None and not self.at_most_once and found.expects(event):
            if found.sync:  # a transport's delivery that blocks until we handled the event
                self.refuse_blocking_wait()
            receipt = Receipt(self.outer)
        item = (event, 1 if scope is None else scope.depth, receipt, contextvars.copy_context())
        if self.needs_loop:
            self.prepare()
        evicted = None
        with self.lock:
            if len(self.items) >= self.max_pending:
                if self.overflow == "wait":
                    if current_background.get() is self:
                        self.refuse_own()
                    if self.full_here():
                        if receipt is not None:
                            found.receipts.append(receipt)  # type: ignore[union-attr]
                        return self.put_later(item)
                    self.wait_for_room()
                else:
                    self.dropped += 1
                    self.unreported += 1
                    self.dropped_type = event.event_type
                    self.owner.has_unreported(self)
                    evicted = item if self.overflow == "drop_newest" else self.items.popleft()
            if evicted is not item:
                self.items.append(item)
                if not self.listed:
                    self.list_locked()
                start = self.wake()
            else:
                start = False
        if start:
            try:
                self.start()
            except BaseException:  # no worker: the event is the put's failure, not queued
                self.take_back(item)
                raise
        if receipt is not None:  # (only now: a failure raised above is the put's own)
            found.receipts.append(receipt)  # type: ignore[union-attr]
        if evicted is not None and evicted[2] is not None:
            evicted[2].finish(overflow_error(self, evicted[0]))
        if self.unreported:
            report = drop_report(self, event.event_type)
            if report is not None:  # published after the event, in the publisher's scope
                queue_pending(report)
        return None

    def refuse_own(self) -> NoReturn:
        """The subscriber publishes to its own full queue: waiting would wait for itself."""
        raise BackgroundError(
            f"background subscriber {self.name} published an event it receives while its "
            f"queue is full ({self.max_pending} pending, overflow='wait'): it would wait for "
            "itself. Raise max_pending or use a drop overflow"
        )

    def wait_for_room(self) -> None:
        """Block until the queue has room (lock held)."""
        worker = self.owner.wait_on(self)  # (raises if it would close a cycle)
        self.waiting += 1
        if not self.listed:
            self.list_locked()
        try:
            while len(self.items) >= self.max_pending:
                self.room.wait()
        finally:
            self.waiting -= 1
            if worker is not None:
                self.owner.done_waiting(worker)

    def take_back(self, item: Item) -> None:
        """Take ``item`` off the queue again (its worker could not be started)."""
        with self.lock:
            for i, queued in enumerate(self.items):
                if queued is item:
                    del self.items[i]
                    break
            self.settle_locked()
            self.notify_locked()  # (drain() looks again: see stalled())

    def release_receipts(self) -> None:
        """Its worker is ending (an event loop closes): the events a transport's delivery
        waits for leave the queue and fail, so that it returns (and retries them) instead
        of waiting for a worker that may never come."""
        with self.lock:
            waited = [item for item in self.items if item[2] is not None]
            if not waited:
                return
            kept = [item for item in self.items if item[2] is None]
            self.items.clear()
            self.items.extend(kept)
            if self.waiting:
                self.room.notify_all()
        discarded(self, waited, "its event loop ended before it handled them")

    def list_locked(self) -> None:
        """The queue has work: ``drain()`` must wait for it (lock held)."""
        with self.owner.lock:
            self.owner.busy.add(self)
        self.listed = True

    def take_unreported(self, now: float, interval: float) -> tuple[int, int] | None:
        """(drops not reported yet, all drops) if a report is due at ``now``, at most one
        per ``interval`` seconds (and the drops count as reported from then on)."""
        with self.lock:
            if not self.unreported or now - self.reported_at < interval:
                return None
            count, self.unreported, self.reported_at = self.unreported, 0, now
            return count, self.dropped

    # Draining ---------------------------------------------------------------------------

    def take_locked(self) -> Item | None:
        """The next event to handle (lock held); ``None`` (and settled) when there is none."""
        if not self.items:
            self.busy = False
            self.settle_locked()
            return None
        self.busy = True
        self.taken_in = self.generation
        item = self.items.popleft()
        if self.waiting:
            self.room.notify()
        return item

    def settle_locked(self) -> None:
        """Tell ``drain()`` if the queue is settled now (lock held)."""
        if self.items or self.busy or self.waiting:
            return
        if self.listed:
            with self.owner.lock:
                self.owner.busy.discard(self)
            self.listed = False
        self.notify_locked()

    def notify_locked(self) -> None:
        """Wake whoever waits in ``drain()``/``drain_async()`` to look again (lock held)."""
        self.settled.notify_all()
        watchers, self.watchers = self.watchers, []
        for watcher in watchers:
            watcher()

    def is_settled(self) -> bool:
        """Whether the queue is empty, idle, and no publisher waits for room (lock held)."""
        return not (self.items or self.busy or self.waiting)

    def discard_locked(self) -> list[Item]:
        """Empty the queue (lock held); return what it held. With a dead event loop, no
        event is being handled either (see :meth:`dead`)."""
        items = list(self.items)
        self.items.clear()
        if self.dead():
            self.busy = False
        if self.waiting:
            self.room.notify_all()
        self.settle_locked()
        return items

    def set_active(self, active: bool, *, forget: bool = False) -> None:
        """Whether its subscription is current (the registry says so as it changes): a
        removed one's worker handles what is queued, then stops. ``forget``: removed by
        ``reset()``/``restore()``, which isolate what comes after from it: the queued
        events are discarded (logged) and what the event being handled queues is not
        published. Events nothing can handle any more (its loop has closed) are
        discarded on removal too."""
        stuck: list[Item] = []
        with self.lock:
            self.active = active
            if not active and (forget or self.dead()):
                if forget:
                    self.generation += 1
                stuck = self.discard_locked()
        if stuck:
            discarded(self, stuck, FORGOTTEN if forget else LOOP_CLOSED)

    def in_use(self) -> bool:
        """Whether its subscription is current or it still has work."""
        return self.active or self.listed

    @property
    def pending(self) -> int:
        """How many events wait on the queue (not counting one being handled)."""
        return len(self.items)

    def chain(self, event_class: type) -> Callable[[Any], Any]:
        """The subscriber wrapped in the bus's event middleware for ``event_class``
        (the plain chain for a plain subscriber, the async one for an ``async def``)."""
        wrap = self.owner.registry.wrap
        if wrap is None:
            return self.subscriber.handler
        if wrap is not self.chained_by:  # the middleware changed: build the chains anew
            self.chains, self.chained_by = {}, wrap
        handler = self.chains.get(event_class)
        if handler is None:
            sync, asyn = wrap((self.subscriber,), event_class)
            handler = (asyn if self.subscriber.is_async else sync)[0].handler
            self.chains[event_class] = handler
        return handler

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name}: {len(self.items)}/{self.max_pending} pending, "
            f"{self.dropped} dropped>"
        )
