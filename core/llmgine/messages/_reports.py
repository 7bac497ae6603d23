"""What the bus does with failed subscribers: log them and report each as an event.

(A strict bus raises :class:`~llmgine.messages.errors.SubscriberError` instead: see
:meth:`Delivery.failed <llmgine.messages._delivery.Delivery.failed>`.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._fields import slot_setter
from ._naming import type_name
from ._subscribers import Plan
from .errors import AsyncHandlerError
from .events import Event

if TYPE_CHECKING:
    from ._delivery import Failure
    from ._subscribers import Subscriber
    from .events import SystemEvent

__all__ = ["refuse_async_subscribers", "report_failure"]


def report_failure(
    event: Event, subscriber: Subscriber, error: Exception, *, quiet: bool
) -> SystemEvent | None:
    """Log that ``subscriber`` failed on ``event``; return the ``system.bus.error`` event
    that reports it (``None`` if ``quiet``: a subscriber of a report failed, and logging
    it is enough, or reports would report on reports)."""
    import logging  # only when something failed (kept off import time)

    from .events import SystemEvent

    logging.getLogger("llmgine.bus").error(
        "subscriber %s failed on event %s (%s, id %s)",
        subscriber.name,
        event.event_type,
        type_name(event.__class__),
        event.event_id,
        exc_info=error,
    )
    if quiet:
        return None
    report = SystemEvent(
        component="bus",
        severity="error",
        message=f"subscriber {subscriber.name} failed on {event.event_type}: {error!r}",
        details={
            "event_id": event.event_id,
            "event_type": event.event_type,
            "subscriber": subscriber.name,
            "error_type": type_name(type(error)),
            "error": str(error),
        },
        correlation_id=event.correlation_id,
        causation_id=event.event_id,
    )
    if event.session_id is not None:  # the session's own subscribers see its failures
        _set_session_id(report, event.session_id)
    return report


def refuse_async_subscribers(
    event: Event, plan: Plan, *, direct: bool
) -> tuple[Plan, list[Failure]]:
    """On the sync path: the plain subscribers of ``plan``, and its async ones as failures.

    An event handed over directly (``direct``: ``emit``) raises instead, before any
    subscriber runs. One that a handler or subscriber queued is published after that
    code returned, so raising would hide that it succeeded and drop the events queued
    after this one.
    """
    names = ", ".join(s.name for s in plan.async_subscribers)
    if direct:
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


_set_session_id = slot_setter(Event, "session_id")
