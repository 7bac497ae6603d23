"""Delivering one event to its subscribers, sync and async, isolating their failures.

All subscribers of an event share one scope, so an event costs one context-variable
switch however many subscribers it has. After each subscriber returns, the events
it queued move to the back of the publish queue; when it raises, they are dropped,
exactly as for a failed command handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Container
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from ._naming import type_name
from ._scope import Scope, current_scope
from ._subscribers import Plan
from .errors import AsyncHandlerError, EventCascadeError, SubscriberError
from .events import SystemEvent

if TYPE_CHECKING:
    from ._subscribers import Subscriber, SubscriberRegistry
    from .events import Event

__all__ = ["Delivery", "Failure"]

logger = logging.getLogger("llmgine.bus")

#: (failed subscriber, its exception)
Failure = tuple["Subscriber", Exception]
#: (event, its depth, whether it reports a subscriber failure)
Queue = deque[tuple["Event", int, bool]]


class Delivery:
    """The part of :class:`~llmgine.messages.bus.MessageBus` that runs subscribers."""

    strict: bool
    max_cascade_depth: int
    _registry: SubscriberRegistry

    def _deliver(
        self,
        event: Event,
        depth: int,
        is_report: bool,
        queue: Queue,
        only: Container[str] | None = None,
    ) -> list[Failure]:
        plan = self._registry.cache.get((event.__class__, event.event_type)) or self._registry.plan(
            event.__class__, event.event_type
        )
        if only is not None:
            plan = _only(plan, only)
        if not plan.subscribers:
            return []
        if plan.async_subscribers:
            names = ", ".join(s.name for s in plan.async_subscribers)
            raise AsyncHandlerError(
                f"event {event.event_type!r} has async subscribers ({names}); "
                "publish it with 'await message_bus.emit_async(event)' or dispatch_async()"
            )
        if depth > self.max_cascade_depth:
            self._cascade(event)
        scope = Scope(event.event_id, event.correlation_id, depth)  # type: ignore[arg-type]
        failures: list[Failure] = []
        token = current_scope.set(scope)
        try:
            for subscriber in plan.subscribers:
                try:
                    result = subscriber.handler(event)
                    if result is not None and result.__class__ is CoroutineType:
                        result.close()
                        raise AsyncHandlerError(
                            f"subscriber {subscriber.name} returned a coroutine; "
                            "publish with 'await message_bus.emit_async(event)'"
                        )
                except EventCascadeError:
                    raise  # from an emit/dispatch inside the subscriber: the loop must stop
                except Exception as exc:
                    scope.pending = None
                    failures.append((subscriber, exc))
                    continue
                if scope.pending is not None:
                    queue.extend((e, depth + 1, False) for e in scope.pending)
                    scope.pending = None
        finally:
            current_scope.reset(token)
            scope.closed = True
        if failures:
            self._failed(event, depth, is_report, failures, queue)
        return failures

    async def _deliver_async(
        self,
        event: Event,
        depth: int,
        is_report: bool,
        queue: Queue,
        only: Container[str] | None = None,
    ) -> list[Failure]:
        plan = self._registry.cache.get((event.__class__, event.event_type)) or self._registry.plan(
            event.__class__, event.event_type
        )
        if only is not None:
            plan = _only(plan, only)
        if not plan.subscribers:
            return []
        if depth > self.max_cascade_depth:
            self._cascade(event)
        failures: list[Failure] = []
        # Per subscriber: its scope, and the task running it if it is a coroutine.
        started: list[tuple[Subscriber, Scope, asyncio.Task[Any] | None]] = []
        for subscriber in plan.asubscribers:
            scope = Scope(event.event_id, event.correlation_id, depth)  # type: ignore[arg-type]
            token = current_scope.set(scope)
            try:
                result = subscriber.handler(event)
                # A task of its own, created while its scope is set (the task copies the
                # context): like any task it is asyncio.current_task() in its body, so
                # asyncio.timeout() and TaskGroup cancel it and not the emitter, and its
                # context-variable changes (and their tokens) stay its own.
                task = asyncio.ensure_future(result) if result.__class__ is CoroutineType else None
            except EventCascadeError:
                _abandon(started)
                raise
            except Exception as exc:
                scope.closed = True
                failures.append((subscriber, exc))
                continue
            finally:
                current_scope.reset(token)
            started.append((subscriber, scope, task))
        tasks = [task for _, _, task in started if task is not None]
        if tasks:
            try:
                await asyncio.wait(tasks)
            except BaseException:  # we were cancelled: so are the subscribers still running
                _abandon(started)
                raise
        for subscriber, scope, task in started:
            scope.closed = True
            error = _outcome(subscriber, task) if task is not None else None
            if error is not None:
                failures.append((subscriber, error))
            elif scope.pending is not None:
                queue.extend((e, depth + 1, False) for e in scope.pending)
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


def _outcome(subscriber: Subscriber, task: asyncio.Task[Any]) -> Exception | None:
    """The exception a finished subscriber task failed with, if any."""
    if task.cancelled():
        # Not our cancellation (that raised in the emitter): the subscriber's own
        # doing, so it is that subscriber's failure.
        return RuntimeError(f"subscriber {subscriber.name} was cancelled before it finished")
    error = task.exception()
    if error is None or (isinstance(error, Exception) and not isinstance(error, EventCascadeError)):
        return error
    raise error  # a runaway cascade, KeyboardInterrupt and the like are not subscriber failures


def _abandon(started: list[tuple[Subscriber, Scope, asyncio.Task[Any] | None]]) -> None:
    """Cancel the subscriber tasks still running and close every scope: nothing gets published."""
    for _, scope, task in started:
        scope.closed = True
        if task is not None:
            task.cancel()


def _only(plan: Plan, names: Container[str]) -> Plan:
    """The part of ``plan`` whose subscribers are named in ``names`` (a transport's retry)."""
    return Plan(
        tuple(s for s in plan.subscribers if s.name in names),
        tuple(s for s in plan.asubscribers if s.name in names),
    )
