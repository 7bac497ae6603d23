"""Publishing events: delivering each to its subscribers, isolating their failures.

The bus owns one :class:`Delivery`. All subscribers of an event share one scope, so
an event costs one context-variable switch however many subscribers it has. After
each subscriber returns, the events it queued go to the back of the publish queue
(breadth-first); when it raises, they are dropped, exactly as for a failed command
handler. The ``async`` half lives in :mod:`~llmgine.messages._async_delivery`.

Which exceptions are a subscriber's failure: every one but ``KeyboardInterrupt``,
``SystemExit`` and ``asyncio.CancelledError`` (see :func:`propagates`), which stop
the delivery after its scope is closed.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Container, Iterable, MutableSequence, Sequence
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

from ._naming import type_name
from ._observers import Observers
from ._reports import refuse_async_subscribers, report_failure
from ._scope import Scope, reset_scope, set_scope
from ._subscribers import Plan
from .errors import (
    AsyncHandlerError,
    EventCascadeError,
    SubscriberBaseExceptionError,
    SubscriberError,
)
from .events import Event
from .transport import Outbox

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._registry import SubscriberRegistry
    from ._subscribers import Subscriber

__all__ = [
    "DIRECT",
    "QUEUED",
    "REPORT",
    "Delivery",
    "Failure",
    "Setting",
    "as_failure",
    "propagates",
]

T = TypeVar("T")

#: How an event came to be delivered (the third item of a queue entry):
#: queued by a handler or subscriber that returned,
QUEUED = 0
#: a ``system.bus.error`` report of a subscriber failure,
REPORT = 1
#: or handed over directly (``emit``, a transport's ``deliver``).
DIRECT = 2

#: (failed subscriber, its exception)
Failure = tuple["Subscriber", Exception]
#: What a delivery returns when every subscriber succeeded (shared: one list less per event)
NO_FAILURES: tuple[Failure, ...] = ()
#: (event, its depth, QUEUED/REPORT/DIRECT), first in first out
Entry = tuple["Event", int, int]
Queue = MutableSequence[Entry]


def propagates(error: BaseException) -> bool:
    """Whether ``error`` stops a delivery instead of being the subscriber's failure."""
    if isinstance(error, KeyboardInterrupt | SystemExit):
        return True
    asyncio = sys.modules.get("asyncio")  # not imported: nothing can raise its errors
    return asyncio is not None and isinstance(error, asyncio.CancelledError)


def as_failure(subscriber: Subscriber, error: BaseException) -> Exception:
    """``error`` as the failure of ``subscriber``: itself if an ``Exception``, else wrapped."""
    if isinstance(error, Exception):
        return error
    return SubscriberBaseExceptionError(subscriber.name, error)


class Setting(Generic[T]):
    """A setting of the bus kept by its :class:`Delivery` (``strict``, ``max_cascade_depth``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, bus: Any, owner: type | None = None) -> T:
        if bus is None:  # read from the class (help(), docs): the descriptor itself
            return self  # type: ignore[return-value]
        return getattr(bus._delivery, self.name)  # type: ignore[no-any-return]

    def __set__(self, bus: Any, value: T) -> None:
        setattr(bus._delivery, self.name, value)


class Delivery:
    """Runs the subscribers of published events for one bus; holds its delivery settings."""

    __slots__ = (
        "lock",
        "max_cascade_depth",
        "observe",
        "observers",
        "outbox",
        "registry",
        "strict",
    )

    def __init__(
        self,
        registry: SubscriberRegistry,
        lock: threading.Lock,
        strict: bool,
        max_cascade_depth: int,
    ) -> None:
        self.registry = registry
        self.lock = lock
        self.strict = strict
        self.max_cascade_depth = max_cascade_depth
        #: the transport's outbox: every generation is handed to it before local delivery
        self.outbox: Outbox | None = None
        #: who sees every event before its subscribers (``add_event_observer``), and
        #: the one callable that calls them (``None``: none)
        self.observe: Callable[[Event], Any] | None = None
        self.observers = Observers(self.set_observe, registry.observe_removals)

    def set_observe(self, observe: Callable[[Event], Any] | None) -> None:
        """What to call with every event before its subscribers (see :class:`Observers`)."""
        self.observe = observe

    # Publishing (the loops) ---------------------------------------------------------

    def publish(self, events: Iterable[Event], depth: int, kind: int) -> None:
        """Deliver ``events``, then (breadth-first) every event their subscribers queue."""
        if self.outbox is not None:
            self.drain_out(deque(entries(events, depth, kind)))
            return
        # The given events go straight to delivery and only what they cause is queued
        # (most events cause nothing, so most publishes never build a deque).
        caused: list[Entry] = []
        for event in events:
            self.deliver(event, depth, kind, caused)
        if caused:
            self.drain(caused)

    def drain(self, caused: list[Entry]) -> None:
        """Deliver ``caused`` and what it causes in turn, first in first out (no outbox)."""
        queue = deque(caused)
        while queue:
            self.deliver(*queue.popleft(), queue)

    def drain_out(self, queue: deque[Entry]) -> None:
        """One generation at a time: hand it to the outbox, then deliver it locally."""
        while queue:
            if self.outbox is not None:
                self.outbox.send([item[0] for item in queue])
            generation, queue = queue, deque()
            while generation:
                self.deliver(*generation.popleft(), queue)

    async def publish_async(self, events: Iterable[Event], depth: int, kind: int) -> None:
        """Like :meth:`publish`, awaiting ``async def`` subscribers."""
        if self.outbox is not None:
            await self.drain_out_async(deque(entries(events, depth, kind)))
            return
        caused: list[Entry] = []
        for event in events:
            await _deliver_async(self, event, depth, kind, caused)
        if caused:
            await self.drain_async(caused)

    async def drain_async(self, caused: list[Entry]) -> None:
        """Like :meth:`drain`, awaiting ``async def`` subscribers."""
        queue = deque(caused)
        while queue:
            await _deliver_async(self, *queue.popleft(), queue)

    async def drain_out_async(self, queue: deque[Entry]) -> None:
        """Like :meth:`drain_out`, awaiting the outbox and ``async def`` subscribers."""
        while queue:
            if self.outbox is not None:
                await self.outbox.send_async([item[0] for item in queue])
            generation, queue = queue, deque()
            while generation:
                await _deliver_async(self, *generation.popleft(), queue)

    # The transport's side --------------------------------------------------------------

    def attach(self, outbox: Outbox) -> None:
        """Make ``outbox`` the outbox (see ``MessageBus.attach_outbox``)."""
        if not isinstance(outbox, Outbox):
            raise TypeError(
                f"attach_outbox() needs send() and send_async() methods, got {outbox!r}"
            )
        with self.lock:
            if self.outbox is not None and self.outbox is not outbox:
                raise ValueError(
                    f"bus already has outbox {self.outbox!r}; call detach_outbox() first"
                )
            self.outbox = outbox

    def detach(self) -> Outbox | None:
        """Take the outbox away and return it (see ``MessageBus.detach_outbox``)."""
        with self.lock:
            outbox, self.outbox = self.outbox, None
        return outbox

    def receive(self, event: Event, only: Container[str] | None) -> list[Failure]:
        """Deliver an event that came from another process (see ``MessageBus.deliver``);
        return once its background subscribers handled it too (see :mod:`._receipts`)."""
        return _receive(self, event, only)

    async def receive_async(self, event: Event, only: Container[str] | None) -> list[Failure]:
        """Like :meth:`receive`, awaiting ``async def`` subscribers (and the background ones)."""
        return await _receive_async(self, event, only)

    # One event ------------------------------------------------------------------------

    def deliver(
        self,
        event: Event,
        depth: int,
        kind: int,
        queue: Queue,
        only: Container[str] | None = None,
    ) -> Sequence[Failure]:
        """Run the plain subscribers of ``event``; queue what they publish; return failures."""
        try:  # the cache, read inline: this runs for every event
            if only is None:
                plan = self.registry.cache[event.__class__][event.event_type]
                if event.session_id is not None:  # (with the session's own subscribers)
                    plan = self.registry.session_plan(
                        plan, event.__class__, event.event_type, event.session_id
                    )
            else:
                plan = self.plan(event, only)
        except KeyError:
            plan = self.plan(event, only)
        handlers = plan.handlers
        observe = self.observe
        if not handlers:
            if observe is not None:
                observe(event)
            return NO_FAILURES
        failures: list[Failure] | None = None
        if plan.async_subscribers:
            plan, failures = refuse_async_subscribers(event, plan, direct=kind == DIRECT)
            handlers = plan.handlers
        if depth > self.max_cascade_depth:
            self.cascade(event)
        if observe is not None:  # (not before: an event refused above was not published)
            observe(event)
        scope = Scope()  # (the fields set here, as in Scope.new(), without its call)
        scope.message_id = event.event_id
        scope.correlation_id = event.correlation_id
        scope.session_id = event.session_id
        scope.depth = depth
        scope.pending = None
        scope.closed = False
        token = set_scope(scope)
        try:
            # The plain handler tuple keeps the loop tight; a failure, the rare case,
            # looks its subscriber up by position.
            for handler in handlers:
                try:
                    result = handler(event)
                    if result is not None and result.__class__ is CoroutineType:
                        result.close()
                        raise AsyncHandlerError(_returned_coroutine(_subscriber(plan, handler)))
                except EventCascadeError:
                    raise  # from an emit/dispatch inside the subscriber: the loop must stop
                except RecursionError as exc:  # the same runaway, caught by Python first
                    self.cascade(event, exc)
                except BaseException as exc:
                    if propagates(exc):
                        raise
                    scope.pending = None
                    if failures is None:
                        failures = []
                    subscriber = _subscriber(plan, handler)
                    failures.append((subscriber, as_failure(subscriber, exc)))
                    continue
                if scope.pending is not None:
                    queue.extend(entries(scope.take(), depth + 1, QUEUED))
        finally:
            reset_scope(token)
            scope.closed = True
        if failures is None:
            return NO_FAILURES
        self.failed(event, depth, kind, failures, queue)
        return failures

    def refuse_async(self, event: Event) -> None:
        """Raise :class:`AsyncHandlerError`, as plain ``emit`` does, if ``event`` has
        async subscribers: with an outbox, before the outbox sends it out of the process
        (a caller seeing the emit fail may retry, duplicating it remotely)."""
        plan = self.plan(event, None)
        if plan.async_subscribers:
            refuse_async_subscribers(event, plan, direct=True)

    def plan(self, event: Event, only: Container[str] | None) -> Plan:
        """The plan of ``event`` from the registry (cached there), limited to ``only``."""
        plan = self.registry.plan(event.__class__, event.event_type, event.session_id)
        return plan if only is None else _only(plan, only)

    def cascade(self, event: Event, recursion: RecursionError | None = None) -> NoReturn:
        """Raise :class:`EventCascadeError` for ``event`` (from ``recursion`` if Python's)."""
        where = (
            f"is more than {self.max_cascade_depth} generations of events-causing-events deep"
            if recursion is None
            else "hit Python's recursion limit in its subscribers (RecursionError), before "
            f"the bus's limit of {self.max_cascade_depth} generations of events-causing-events"
        )
        raise EventCascadeError(
            f"event {event.event_type!r} ({type_name(event.__class__)}) {where} "
            f"(correlation {event.correlation_id}); subscribers are probably publishing events "
            "in a loop (or one recurses without end). Raise "
            "MessageBus.isolated(max_cascade_depth=...) if the depth is intended"
        ) from recursion

    def failed(
        self, event: Event, depth: int, kind: int, failures: list[Failure], queue: Queue
    ) -> None:
        """Raise (strict) or log each failure and queue a ``system.bus.error`` event about it."""
        if self.strict:
            named = [(s.name, exc) for s, exc in failures]
            raise SubscriberError(event, named, failed=failures)
        for subscriber, exc in failures:
            report = report_failure(event, subscriber, exc, quiet=kind == REPORT)
            if report is not None:
                # (at the depth of the failed event: a report is no new generation, and
                # one cannot cause another, so loops through reports still deepen)
                queue.append((report, depth, REPORT))


def entries(events: Iterable[Event], depth: int, kind: int) -> list[Entry]:
    """Queue entries for ``events``.

    (A function of its own: a comprehension inline would make ``depth`` a closure cell,
    which costs the functions that hold it a cell on every call, even when no event
    was queued.)
    """
    return [(e, depth, kind) for e in events]


def _subscriber(plan: Plan, handler: Callable[[Any], Any]) -> Subscriber:
    """The subscriber of ``plan`` whose handler is ``handler`` (for error reports only).

    By identity: ``handlers.index()`` compares with ``==``, and two subscribers may be
    distinct callables that compare equal (instances of one dataclass).
    """
    return next(s for s in plan.subscribers if s.handler is handler)


def _returned_coroutine(subscriber: Subscriber) -> str:
    """Why a plain subscriber that returned a coroutine fails under ``emit``."""
    if subscriber.background is not None:  # its queue's put: full, on the loop draining it
        return (
            f"background subscriber {subscriber.name}'s queue is full (overflow='wait') and it "
            "runs on this event loop, so a plain publish (emit(), dispatch() or a transport's "
            "deliver()) cannot wait for room here without blocking the loop; use the async "
            "form ('await message_bus.emit_async(event)', dispatch_async, deliver_async), or "
            "choose overflow='drop_oldest'/'drop_newest'"
        )
    return (
        f"subscriber {subscriber.name} returned a coroutine; publish with "
        "'await message_bus.emit_async(event)'"
    )


def _only(plan: Plan, names: Container[str]) -> Plan:
    """The part of ``plan`` whose subscribers are named in ``names`` (a transport's retry)."""
    return Plan(
        tuple(s for s in plan.subscribers if s.name in names),
        tuple(s for s in plan.asubscribers if s.name in names),
    )


# Last: these import this module's names (the cycle is resolved by then).
from ._async_delivery import deliver_async as _deliver_async  # noqa: E402
from ._receipts import receive as _receive  # noqa: E402
from ._receipts import receive_async as _receive_async  # noqa: E402
