"""What background queues report: their drops (rate-limited), and failures they hit.

A background subscriber's own failure is reported by :meth:`Delivery.failed
<llmgine.messages._delivery.Delivery.failed>` like any subscriber's; this module says
how the drops of a full queue are reported, which failures are reported quietly, and
what happens when reporting itself fails.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ._delivery import DIRECT, REPORT
from .errors import BackgroundError, BackgroundOverflowError, SubscriberError

if TYPE_CHECKING:
    from ._background_queue import BackgroundQueue, Item
    from ._receipts import Receipt
    from .events import Event, SystemEvent

__all__ = [
    "removed_meanwhile",
    "REPORT_INTERVAL",
    "discarded",
    "drop_report",
    "failure_kind",
    "forsaken",
    "monotonic",
    "overflow_error",
    "reporting_failed",
]

#: A queue reports its drops as a ``system.bus.warning`` event at most this often (seconds).
REPORT_INTERVAL = 1.0
#: The clock of the drop reports (read through the module: tests put a fake one here).
monotonic = time.monotonic

_log = logging.getLogger("llmgine.bus")


def overflow_error(queue: BackgroundQueue, event: Event) -> BackgroundOverflowError:
    """The failure a transport's delivery lists for ``event``, dropped from ``queue``."""
    return BackgroundOverflowError(
        f"background subscriber {queue.name} dropped event {event.event_type!r} "
        f"({event.event_id}): its queue was full ({queue.max_pending} pending, "
        f"overflow={queue.overflow!r}). Raise max_pending, use overflow='wait', or subscribe "
        "with at_most_once=True if losing events is acceptable"
    )


def drop_report(
    queue: BackgroundQueue, event_type: str, interval: float = REPORT_INTERVAL
) -> SystemEvent | None:
    """The ``system.bus.warning`` about the drops of ``queue`` not reported yet, if one is
    due (at most one per ``interval`` seconds); logged too. ``event_type``: the type of
    the latest event that reached the queue."""
    counts = queue.take_unreported(monotonic(), interval)
    if counts is None:
        return None
    count, total = counts
    from .events import SystemEvent

    message = (
        f"background subscriber {queue.name} dropped {count} event(s): its queue was full "
        f"({queue.max_pending} pending, overflow={queue.overflow!r}); {total} dropped in all"
    )
    _log.warning("%s", message)
    return SystemEvent(
        component="bus",
        severity="warning",
        message=message,
        details={
            "subscriber": queue.name,
            "dropped": count,
            "total_dropped": total,
            "max_pending": queue.max_pending,
            "overflow": queue.overflow,
            "event_type": event_type,
        },
    )


def failure_kind(event: Event) -> int:
    """How to report a failure on ``event``: quietly (logged only) on the bus's own reports,
    lest a background subscriber of reports report on its reports for ever."""
    from .events import SystemEvent

    return REPORT if isinstance(event, SystemEvent) and event.component == "bus" else DIRECT


def reporting_failed(
    queue: BackgroundQueue, event: Event, waited: bool, exc: BaseException
) -> None:
    """Reporting the failure of ``queue``'s subscriber on ``event`` raised ``exc``. A strict
    bus's error is kept for the next ``drain()``, unless a transport's delivery returns that
    failure anyway (``waited``: it waits for this event); anything else is logged."""
    if isinstance(exc, SubscriberError):
        if not waited or exc.event is not event:
            queue.owner.stash(exc, queue)
        return
    _log.error(
        "could not report the failure of background subscriber %s on %s",
        queue.name,
        event.event_type,
        exc_info=exc,
    )


def discarded(queue: BackgroundQueue, items: list[Item], why: str) -> None:
    """``queue`` gave up the events ``items`` unhandled because ``why``: log it, and
    fail the receipts a transport's delivery waits for (so it retries them)."""
    if not items:
        return
    message = (
        f"background subscriber {queue.name} discarded {len(items)} queued event(s) "
        f"unhandled: {why}"
    )
    _log.warning("%s", message)
    for event, _, receipt, _ in items:
        if receipt is not None:
            receipt.finish(BackgroundError(f"{message} (event {event.event_id})"))


def forsaken(queue: BackgroundQueue, event: Event, error: Exception | None) -> None:
    """``reset()``/``restore()`` removed ``queue``'s subscription while its subscriber
    handled ``event``: what it queued is not published; its failure is only logged."""
    _log.warning(
        "background subscriber %s finished %s after reset() or restore() removed its "
        "subscription: the events it queued are not published%s",
        queue.name,
        event.event_type,
        "" if error is None else ", and its failure is only logged",
        exc_info=error,
    )


def removed_meanwhile(
    queue: BackgroundQueue,
    generation: int,
    event: Event,
    error: Exception | None,
    receipt: Receipt | None,
) -> bool:
    """Whether ``reset()``/``restore()`` removed ``queue``'s subscription while it handled
    ``event`` (its ``generation`` changed): then nothing it queued is published (logged)
    and its receipt is finished."""
    if queue.generation == generation:
        return False
    forsaken(queue, event, error)
    if receipt is not None:
        receipt.finish(error)
    return True
