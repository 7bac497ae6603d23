"""Delivering one event to its subscribers, sync and async, isolating their failures.

All subscribers of an event share one scope, so an event costs one context-variable
switch however many subscribers it has. After each subscriber returns, the events
it queued move to the back of the publish queue; when it raises, they are dropped,
exactly as for a failed command handler.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, MutableSequence, Sequence
from types import CoroutineType
from typing import TYPE_CHECKING, Any, NoReturn

from ._naming import type_name
from ._scope import CLOSED, PENDING, Scope, new_scope, reset_scope, set_scope
from ._subscriber_tasks import Started, Tasks, abandon, outcome, wait
from ._subscribers import Plan
from .errors import AsyncHandlerError, EventCascadeError, SubscriberError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._subscribers import Subscriber, SubscriberRegistry
    from .events import Event

__all__ = ["DIRECT", "QUEUED", "REPORT", "Delivery", "Failure", "entries"]

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
Queue = MutableSequence[tuple["Event", int, int]]


class Delivery:
    """The part of :class:`~llmgine.messages.bus.MessageBus` that runs subscribers."""

    strict: bool
    max_cascade_depth: int
    _registry: SubscriberRegistry

    def _deliver(
        self,
        event: Event,
        depth: int,
        kind: int,
        queue: Queue,
        only: Container[str] | None = None,
    ) -> Sequence[Failure]:
        try:
            plan = (
                self._registry.cache[event.__class__][event.event_type]
                if only is None
                else self._plan(event, only)
            )
        except KeyError:
            plan = self._plan(event, only)
        handlers = plan.handlers
        if not handlers:
            return NO_FAILURES
        failures: list[Failure] | None = None
        if plan.async_subscribers:
            plan, failures = _sync_part(event, plan, kind)
            handlers = plan.handlers
        if depth > self.max_cascade_depth:
            self._cascade(event)
        # new_scope(...), minus the call
        scope: Scope = [event.event_id, event.correlation_id, depth, None, False]
        token = set_scope(scope)
        try:
            # The plain handler tuple keeps the loop tight; a failure, the rare case,
            # looks its subscriber up by position.
            for handler in handlers:
                try:
                    result = handler(event)
                    if result is not None and result.__class__ is CoroutineType:
                        result.close()
                        raise AsyncHandlerError(
                            f"subscriber {_subscriber(plan, handler).name} returned a "
                            "coroutine; publish with 'await message_bus.emit_async(event)'"
                        )
                except EventCascadeError:
                    raise  # from an emit/dispatch inside the subscriber: the loop must stop
                except RecursionError as exc:  # the same runaway, caught by Python first
                    self._cascade(event, exc)
                except Exception as exc:
                    scope[PENDING] = None
                    if failures is None:
                        failures = []
                    failures.append((_subscriber(plan, handler), exc))
                    continue
                if scope[PENDING] is not None:
                    queue.extend(entries(scope[PENDING], depth + 1, QUEUED))
                    scope[PENDING] = None
        finally:
            reset_scope(token)
            scope[CLOSED] = True
        if failures is None:
            return NO_FAILURES
        self._failed(event, depth, kind, failures, queue)
        return failures

    async def _deliver_async(
        self,
        event: Event,
        depth: int,
        kind: int,
        queue: Queue,
        only: Container[str] | None = None,
    ) -> list[Failure]:
        # (no inlined cache read here: this path awaits tasks, so a call is noise)
        plan = self._plan(event, only)
        if not plan.subscribers:
            return []
        if depth > self.max_cascade_depth:
            self._cascade(event)
        # Looked up before any subscriber runs (one may cancel the emitter, even in an eager
        # first step), and only if some are async (or, later, a plain one returns a coroutine).
        tasks = Tasks() if plan.starts_tasks else None
        failures: list[Failure] = []
        # Per subscriber that has something to wait for or publish: the scope that holds
        # its events, and the task running it if it is a coroutine.
        started: list[Started] = []
        # Plain subscribers share one scope (set on the first), as in _deliver: their
        # events move out after each returns. A coroutine gets a scope of its own, set
        # while its task is created (the task copies the context).
        shared: Scope | None = None
        token = None
        try:
            for subscriber in plan.asubscribers:
                if shared is None and not subscriber.is_async:
                    shared = new_scope(event.event_id, event.correlation_id, depth)
                    token = set_scope(shared)
                own: Scope | None = None
                result = None
                try:
                    if subscriber.is_async:  # calling it only makes the coroutine
                        own = new_scope(event.event_id, event.correlation_id, depth)
                        own_token = set_scope(own)
                        try:
                            result = subscriber.handler(event)
                            if result.__class__ is CoroutineType:
                                tasks = tasks or Tasks()
                                task = tasks.start(result, name=subscriber.name)
                            else:
                                task = None
                        finally:
                            reset_scope(own_token)
                    else:
                        result = subscriber.handler(event)
                        if result.__class__ is not CoroutineType:
                            task = None
                        else:  # a plain function that returned a coroutine
                            own = new_scope(event.event_id, event.correlation_id, depth)
                            own[PENDING], shared[PENDING] = shared[PENDING], None  # type: ignore[index]
                            own_token = set_scope(own)
                            try:
                                tasks = tasks or Tasks()
                                task = tasks.start(result, name=subscriber.name)
                            finally:
                                reset_scope(own_token)
                except RecursionError as exc:  # EventCascadeError is one too
                    if shared is not None:
                        shared[CLOSED] = True
                    abandon(started)
                    if not isinstance(exc, EventCascadeError):
                        self._cascade(event, exc)
                    raise
                except Exception as exc:
                    if result.__class__ is CoroutineType:  # its task could not be made
                        result.close()  # (else Python warns it was never awaited)
                    if own is not None:
                        own[CLOSED] = True
                    elif shared is not None:
                        shared[PENDING] = None
                    failures.append((subscriber, exc))
                    continue
                except BaseException:  # SystemExit, KeyboardInterrupt: the emit stops here
                    if shared is not None:
                        shared[CLOSED] = True
                    abandon(started)  # (and leaves no subscriber task running)
                    raise
                if own is not None:
                    # A task of its own: like any task it is asyncio.current_task() in its
                    # body, so asyncio.timeout() and TaskGroup cancel it and not the
                    # emitter, and its context changes (and their tokens) stay its own.
                    started.append((subscriber, own, task))
                elif shared is not None and shared[PENDING] is not None:
                    done = new_scope(event.event_id, event.correlation_id, depth)
                    done[PENDING], shared[PENDING] = shared[PENDING], None
                    started.append((subscriber, done, None))
        finally:
            if token is not None:
                reset_scope(token)
        if tasks is not None and any(task is not None for _, _, task in started):
            try:
                await wait(started, tasks)
            except BaseException:
                if shared is not None:
                    shared[CLOSED] = True  # cancelled: nothing gets published
                raise
        if shared is not None:
            shared[CLOSED] = True
            if shared[PENDING] is not None:  # queued late, by what a plain subscriber started
                started.append((plan.asubscribers[-1], shared, None))
        for subscriber, scope, task in started:
            scope[CLOSED] = True
            try:
                error = outcome(subscriber, task) if task is not None else None
            except RecursionError as exc:
                if not isinstance(exc, EventCascadeError):
                    self._cascade(event, exc)
                raise
            if error is not None:
                failures.append((subscriber, error))
            elif scope[PENDING] is not None:
                queue.extend(entries(scope[PENDING], depth + 1, QUEUED))
        if failures:
            self._failed(event, depth, kind, failures, queue)
        return failures

    def _refuse_async(self, event: Event) -> None:
        """Raise :class:`AsyncHandlerError`, as plain ``emit`` does, if ``event`` has
        async subscribers: with an outbox, before the outbox sends it out of the process
        (a caller seeing the emit fail may retry, duplicating it remotely)."""
        plan = self._plan(event, None)
        if plan.async_subscribers:
            _sync_part(event, plan, DIRECT)

    def _plan(self, event: Event, only: Container[str] | None) -> Plan:
        """The plan of ``event`` from the registry (cached there), limited to ``only``."""
        plan = self._registry.plan(event.__class__, event.event_type)
        return plan if only is None else _only(plan, only)

    def _cascade(self, event: Event, recursion: RecursionError | None = None) -> NoReturn:
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

    def _failed(
        self, event: Event, depth: int, kind: int, failures: list[Failure], queue: Queue
    ) -> None:
        """Raise (strict) or log each failure and queue a ``system.bus.error`` event about it."""
        if self.strict:
            error = SubscriberError(event, [(s.name, exc) for s, exc in failures])
            error._failures = failures
            raise error
        import logging  # only when something failed (kept off import time)

        from .events import SystemEvent

        logger = logging.getLogger("llmgine.bus")
        for subscriber, exc in failures:
            logger.error(
                "subscriber %s failed on event %s (%s, id %s)",
                subscriber.name,
                event.event_type,
                type_name(event.__class__),
                event.event_id,
                exc_info=exc,
            )
            if kind == REPORT:
                continue  # a subscriber of a failure report failed: logging it is enough
            report = SystemEvent(
                component="bus",
                severity="error",
                message=f"subscriber {subscriber.name} failed on {event.event_type}: {exc!r}",
                details={
                    "event_id": event.event_id,
                    "event_type": event.event_type,
                    "subscriber": subscriber.name,
                    "error_type": type_name(type(exc)),
                    "error": str(exc),
                },
                correlation_id=event.correlation_id,
                causation_id=event.event_id,
            )
            # (at the depth of the failed event: a report is no new generation, and one
            # cannot cause another, see above, so loops through reports still deepen)
            queue.append((report, depth, REPORT))


def entries(events: Iterable[Event], depth: int, kind: int) -> list[tuple[Event, int, int]]:
    """Queue entries for ``events``.

    (A function of its own: a comprehension inline would make ``depth`` a closure cell,
    which costs the functions that hold it a cell on every call, even when no event
    was queued.)
    """
    return [(e, depth, kind) for e in events]


def _sync_part(event: Event, plan: Plan, kind: int) -> tuple[Plan, list[Failure]]:
    """On the sync path: the plain subscribers of ``plan``, and its async ones as failures.

    An event handed over directly raises instead, before any subscriber runs. One that
    a handler or subscriber queued is published after that code returned, so raising
    would hide that it succeeded and drop the events queued after this one.
    """
    names = ", ".join(s.name for s in plan.async_subscribers)
    if kind == DIRECT:
        raise AsyncHandlerError(
            f"event {event.event_type!r} has async subscribers ({names}); "
            "publish it with 'await message_bus.emit_async(event)' or dispatch_async()"
        )
    failures: list[Failure] = [
        (
            s,
            AsyncHandlerError(
                f"subscriber {s.name} of {event.event_type!r} is async, but the event was "
                "queued by a handler or subscriber running under dispatch() or emit(), "
                "which cannot await it; use 'await message_bus.dispatch_async(command)' "
                "or emit_async()"
            ),
        )
        for s in plan.async_subscribers
    ]
    return Plan(tuple(s for s in plan.subscribers if not s.is_async)), failures


def _subscriber(plan: Plan, handler: Callable[[Any], Any]) -> Subscriber:
    """The subscriber of ``plan`` whose handler is ``handler`` (for error reports only).

    By identity: ``handlers.index()`` compares with ``==``, and two subscribers may be
    distinct callables that compare equal (instances of one dataclass).
    """
    return next(s for s in plan.subscribers if s.handler is handler)


def _only(plan: Plan, names: Container[str]) -> Plan:
    """The part of ``plan`` whose subscribers are named in ``names`` (a transport's retry)."""
    return Plan(
        tuple(s for s in plan.subscribers if s.name in names),
        tuple(s for s in plan.asubscribers if s.name in names),
    )
