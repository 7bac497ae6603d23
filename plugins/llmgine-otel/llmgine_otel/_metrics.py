"""What the metrics add to one bus while the plugin runs there, and what they read of it.

:class:`BusMetrics` adds a command middleware (commands dispatched, failed, and their
duration per command type), an event middleware (subscriber calls and failures and their
duration per event type) and an event observer (events published per type) to its bus when
started, and takes all three off again when stopped (the plugin's ``shutdown``). The
observable instruments read its bus's open sessions and background queues at collection
time, so those cost nothing per message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from llmgine.messages import Event
from llmgine.messages.bus import MessageBus
from llmgine.middleware import Around, Next

from ._instruments import Instruments
from ._spans import ATTRIBUTES, type_name

__all__ = ["BusMetrics", "base_name", "pending_of"]

_TYPE = ATTRIBUTES["type"]
_EVENT_TYPE = ATTRIBUTES["event_type"]
#: the OpenTelemetry semantic conventions' attribute for the class of a failure
_ERROR_TYPE = "error.type"


class BusMetrics:
    """The metrics of one bus: see the module docstring."""

    __slots__ = ("__weakref__", "_lock", "_removers", "bus", "commands", "events", "instruments")

    def __init__(self, bus: MessageBus, instruments: Instruments) -> None:
        self.bus = bus
        self.instruments = instruments
        #: the command middleware
        self.commands = _CommandMetrics(instruments)
        #: the event middleware
        self.events = _DeliveryMetrics(instruments)
        self._lock = threading.Lock()
        self._removers: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"<BusMetrics {'started' if self.started else 'stopped'} on {self.bus!r}>"

    @property
    def started(self) -> bool:
        """Whether its middleware and observer are on the bus."""
        return bool(self._removers)

    def start(self, slot: int | None) -> None:
        """Add the middleware (into middleware slot ``slot``, if given) and the observer;
        a no-op if started."""
        with self._lock:
            if self._removers:
                return
            bus = self.bus
            self._removers = [
                bus.add_command_middleware(self.commands, slot=slot),
                bus.add_event_middleware(self.events, slot=slot),
                bus.add_event_observer(self.published),
            ]
            self.instruments.add_source(self)

    def stop(self) -> None:
        """Take the middleware and the observer off the bus; a no-op if stopped."""
        with self._lock:
            removers, self._removers = self._removers, []
            self.instruments.discard_source(self)
        for remove in reversed(removers):
            remove()

    def published(self, event: Event) -> None:
        """The event observer: count ``event`` as published."""
        self.instruments.published.add(1, {_EVENT_TYPE: event.event_type})

    def open_sessions(self) -> int:
        """How many sessions are open on the bus (read at collection)."""
        return len(self.bus.sessions)

    def background(self) -> Iterator[tuple[str, int | None, int]]:
        """Each background subscription's subscriber name, pending and dropped events."""
        for subscription in self.bus.subscriptions:
            if subscription.background:
                yield (
                    base_name(subscription.subscriber.name),
                    pending_of(subscription.subscriber.background),
                    subscription.dropped,
                )


def base_name(name: str) -> str:
    """A subscriber's name without the ``#2``, ``#3``... that tells apart subscriptions of
    callables with the same name (each session's subscriber of one function, say), so that
    they are counted as one subscriber and the number of series stays that of the code's
    subscribers."""
    base, sep, number = name.rpartition("#")
    return base if sep and number.isdigit() else name


def pending_of(queue: object) -> int | None:
    """How many events wait on a background subscriber's queue, ``None`` if it does not say.

    Read as the queue's ``pending`` count, or else its ``len()``.
    """
    pending = getattr(queue, "pending", None)
    if isinstance(pending, int):
        return pending
    try:
        return len(queue)  # type: ignore[arg-type]
    except TypeError:
        return None


class _CommandMetrics(Around):
    """Counts each command handler call and records its duration, per command type."""

    def __init__(self, instruments: Instruments) -> None:
        self.instruments = instruments
        self._types: dict[type, dict[str, str]] = {}

    def before(self, message: Any, call_next: Next[Any]) -> tuple[dict[str, str], float]:
        """Start the clock."""
        cls = message.__class__
        attributes = self._types.get(cls)
        if attributes is None:
            attributes = self._types[cls] = {_TYPE: type_name(cls)}
        return attributes, time.perf_counter()

    def after(self, state: Any, error: BaseException | None, result: Any) -> None:
        """Count the call and record how long it took."""
        attributes, start = state
        seconds = time.perf_counter() - start
        instruments = self.instruments
        instruments.dispatched.add(1, attributes)
        if error is not None:
            attributes = {**attributes, _ERROR_TYPE: type_name(error.__class__)}
            instruments.commands_failed.add(1, attributes)
        instruments.command_duration.record(seconds, attributes)


class _DeliveryMetrics(Around):
    """Counts each subscriber call and records its duration, per event type."""

    def __init__(self, instruments: Instruments) -> None:
        self.instruments = instruments

    def before(self, message: Any, call_next: Next[Any]) -> tuple[str, float]:
        """Start the clock."""
        return message.event_type, time.perf_counter()

    def after(self, state: Any, error: BaseException | None, result: Any) -> None:
        """Count the call and record how long it took."""
        event_type, start = state
        seconds = time.perf_counter() - start
        instruments = self.instruments
        attributes = {_EVENT_TYPE: event_type}
        instruments.delivered.add(1, attributes)
        if error is not None:
            attributes[_ERROR_TYPE] = type_name(error.__class__)
            instruments.deliveries_failed.add(1, attributes)
        instruments.delivery_duration.record(seconds, attributes)
