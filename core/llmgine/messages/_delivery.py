"""Delivering one event to its subscribers, sync and async, isolating their failures.

All subscribers of an event share one scope, so an event costs one context-variable
switch however many subscribers it has. After each subscriber returns, the events
it queued move to the back of the publish queue; when it raises, they are dropped,
exactly as for a failed command handler.
"""

from __future__ import annotations

from collections.abc import MutableSequence
from contextvars import copy_context
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from ._eager import resume
from ._naming import type_name
from ._scope import Scope, current_scope, new_scope
from .errors import AsyncHandlerError, EventCascadeError, SubscriberError
from .events import SystemEvent

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Coroutine

    from ._subscribers import Plan, Subscriber, SubscriberRegistry
    from .events import Event

__all__ = ["Delivery", "Failure"]

#: (failed subscriber, its exception)
Failure = tuple["Subscriber", Exception]
#: (subscriber, the events it queued or the scope it keeps, its task if it suspended)
Outcome = tuple["Subscriber", Any, "asyncio.Task[Any] | None"]
#: (event, its depth, whether it reports a subscriber failure), first in first out
Queue = MutableSequence[tuple["Event", int, bool]]


class Delivery:
    """The part of :class:`~llmgine.messages.bus.MessageBus` that runs subscribers."""

    strict: bool
    max_cascade_depth: int
    _registry: SubscriberRegistry

    def _deliver(self, event: Event, depth: int, is_report: bool, queue: Queue) -> list[Failure]:
        try:
            plan = self._registry.cache[event.__class__][event.event_type]
        except KeyError:
            plan = self._registry.plan(event.__class__, event.event_type)
        handlers = plan.handlers
        if not handlers:
            return []
        if plan.async_subscribers:
            names = ", ".join(s.name for s in plan.async_subscribers)
            raise AsyncHandlerError(
                f"event {event.event_type!r} has async subscribers ({names}); "
                "publish it with 'await message_bus.emit_async(event)' or dispatch_async()"
            )
        if depth > self.max_cascade_depth:
            self._cascade(event)
        # Scope(event.event_id, event.correlation_id, depth), minus the __init__ call
        scope = new_scope(Scope)
        scope.message_id = event.event_id
        scope.correlation_id = event.correlation_id  # type: ignore[assignment]
        scope.depth = depth
        scope.pending = None
        failures: list[Failure] | None = None
        token = current_scope.set(scope)
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
                except Exception as exc:
                    scope.pending = None
                    if failures is None:
                        failures = []
                    failures.append((_subscriber(plan, handler), exc))
                    continue
                if scope.pending is not None:
                    queue.extend([(e, depth + 1, False) for e in scope.pending])
                    scope.pending = None
        finally:
            current_scope.reset(token)
        if failures is None:
            return []
        self._failed(event, depth, is_report, failures, queue)
        return failures

    async def _deliver_async(
        self, event: Event, depth: int, is_report: bool, queue: Queue
    ) -> list[Failure]:
        try:
            plan = self._registry.cache[event.__class__][event.event_type]
        except KeyError:
            plan = self._registry.plan(event.__class__, event.event_type)
        subscribers = plan.subscribers
        if not subscribers:
            return []
        if depth > self.max_cascade_depth:
            self._cascade(event)
        # Subscribers that finish in their first step (the common case) share one scope
        # and one context, as in the sync path, and run in one context.run(). Each
        # coroutine takes that first step in the context a task would run it in (as
        # 3.12's eager tasks do), so context-variable tokens it makes stay valid if it
        # suspends; it then keeps that context and scope in its own task, and the
        # subscribers after it start with a fresh pair (so do those after a failure).
        outcomes: list[Outcome] = []
        failures: list[Failure] = []
        rest = subscribers
        while rest:
            # Scope(event.event_id, event.correlation_id, depth), minus the __init__ call
            scope = new_scope(Scope)
            scope.message_id = event.event_id
            scope.correlation_id = event.correlation_id  # type: ignore[assignment]
            scope.depth = depth
            scope.pending = None
            context = copy_context()
            stopped, coro, yielded = context.run(_start, rest, event, scope, outcomes, failures)
            if stopped is None:
                break
            if coro is not None:
                outcomes[-1] = (stopped, scope, resume(coro, yielded, context))
            rest = rest[rest.index(stopped) + 1 :]
        if outcomes:
            tasks = [t for _, _, t in outcomes if t is not None]
            if tasks:
                import asyncio  # imported already: a loop is running (kept off import time)

                try:
                    await asyncio.wait(tasks)
                except BaseException:  # we were cancelled: so are the subscribers still running
                    for running in tasks:
                        running.cancel()
                    raise
            for subscriber, pending, task in outcomes:
                if task is not None:
                    error = task.exception()
                    if error is not None:
                        failures.append((subscriber, error))  # type: ignore[arg-type]
                        continue
                    pending = pending.pending
                if pending:
                    queue.extend([(e, depth + 1, False) for e in pending])
        if failures:
            self._failed(event, depth, is_report, failures, queue)
        return failures

    def _cascade(self, event: Event) -> None:
        raise EventCascadeError(
            f"event {event.event_type!r} ({type_name(event.__class__)}) is more than "
            f"{self.max_cascade_depth} generations of events-causing-events deep "
            f"(correlation {event.correlation_id}); subscribers are probably re-queuing events "
            "in a loop. Raise MessageBus.isolated(max_cascade_depth=...) if the depth is intended"
        )

    def _failed(
        self, event: Event, depth: int, is_report: bool, failures: list[Failure], queue: Queue
    ) -> None:
        """Raise (strict) or log each failure and queue a ``system.bus.error`` event about it."""
        if self.strict:
            raise SubscriberError(event, [(s.name, exc) for s, exc in failures])
        import logging  # only when something failed (kept off import time)

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
            if is_report:
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
            queue.append((report, depth + 1, True))


def _subscriber(plan: Plan, handler: Callable[[Any], Any]) -> Subscriber:
    """The subscriber of ``plan`` whose handler is ``handler`` (for error reports only)."""
    return plan.subscribers[plan.handlers.index(handler)]


def _start(
    subscribers: tuple[Subscriber, ...],
    event: Event,
    scope: Scope,
    outcomes: list[Outcome],
    failures: list[Failure],
) -> tuple[Subscriber | None, Coroutine[Any, Any, Any] | None, Any]:
    """Set ``scope`` in the current context and run ``subscribers`` in it until one
    suspends or fails.

    Records each one's events (or, for one that suspended, a placeholder the caller
    completes with its task) in ``outcomes`` and failures in ``failures``. Returns
    ``(subscriber, coroutine, what it yielded)`` for one that suspended,
    ``(subscriber, None, None)`` for one that failed, and ``(None, None, None)``
    when all finished.
    """
    current_scope.set(scope)  # no reset: the context is thrown away or kept by a task
    for subscriber in subscribers:
        try:
            result = subscriber.handler(event)
            if result.__class__ is CoroutineType:
                try:
                    yielded = result.send(None)
                except StopIteration:
                    pass
                else:
                    outcomes.append((subscriber, scope, None))
                    return subscriber, result, yielded
        except Exception as exc:
            failures.append((subscriber, exc))
            return subscriber, None, None
        if scope.pending is not None:
            outcomes.append((subscriber, scope.pending, None))
            scope.pending = None
    return None, None, None
