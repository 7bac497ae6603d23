"""The metric instruments: made once per ``MeterProvider``, shared by the buses reporting to it.

An OpenTelemetry meter hands back the instrument it already has when one of the same
name is created again, and then drops the callbacks of the second observable one. So
the instruments of one provider are made once, and the callbacks of its observable
instruments read every bus that reports to it (the :class:`Instruments`' sources) and add
their values up: two buses' open sessions are the process's open sessions.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from ._spans import ATTRIBUTES

if TYPE_CHECKING:
    from opentelemetry.util.types import Attributes

__all__ = ["DURATION_BUCKETS", "METRICS", "Instruments", "Source", "instruments_for"]

#: Every metric, by name: (instrument kind, unit, what it measures). The attributes are
#: ``llmgine.message.type`` (a command's class), ``llmgine.event_type`` (an event's type
#: name), ``error.type`` (the exception's class, on failures) and ``llmgine.handler``
#: (a background subscriber's name).
METRICS: dict[str, tuple[str, str, str]] = {
    "llmgine.commands.dispatched": (
        "counter",
        "{command}",
        "Command handler calls (each attempt under Retry), failed ones included",
    ),
    "llmgine.commands.failed": ("counter", "{command}", "Command handler calls that raised"),
    "llmgine.command.duration": ("histogram", "s", "How long a command handler call took"),
    "llmgine.events.published": (
        "counter",
        "{event}",
        "Events published on the bus, with or without subscribers",
    ),
    "llmgine.events.delivered": (
        "counter",
        "{delivery}",
        "Subscriber calls (one per subscriber an event reached), failed ones included",
    ),
    "llmgine.events.failed": ("counter", "{delivery}", "Subscriber calls that raised"),
    "llmgine.event.delivery.duration": ("histogram", "s", "How long a subscriber call took"),
    "llmgine.background.pending": (
        "observable up-down counter",
        "{event}",
        "Events waiting on background subscribers' queues",
    ),
    "llmgine.background.dropped": (
        "observable counter",
        "{event}",
        "Events background subscribers' full queues dropped",
    ),
    "llmgine.sessions.open": ("observable up-down counter", "{session}", "Open sessions"),
}

#: Histogram bucket boundaries in seconds: from a handler of microseconds to a model call
#: of minutes (the SDK's default boundaries are meant for milliseconds).
DURATION_BUCKETS = (
    0.0001,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
)


class Source(Protocol):
    """What the observable instruments read of one bus, at collection time."""

    def open_sessions(self) -> int:
        """How many sessions are open."""

    def background(self) -> Iterable[tuple[str, int | None, int]]:
        """Each background subscription: (subscriber name, pending events or ``None`` if
        its queue does not say, dropped events)."""


class Instruments:
    """The instruments of one meter provider, and the buses its observable ones read."""

    def __init__(self, meter_provider: metrics.MeterProvider) -> None:
        meter = meter_provider.get_meter("llmgine_otel")

        def counter(name: str) -> metrics.Counter:
            _, unit, description = METRICS[name]
            return meter.create_counter(name, unit=unit, description=description)

        def histogram(name: str) -> metrics.Histogram:
            _, unit, description = METRICS[name]
            return meter.create_histogram(
                name,
                unit=unit,
                description=description,
                explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
            )

        self.dispatched = counter("llmgine.commands.dispatched")
        self.commands_failed = counter("llmgine.commands.failed")
        self.command_duration = histogram("llmgine.command.duration")
        self.published = counter("llmgine.events.published")
        self.delivered = counter("llmgine.events.delivered")
        self.deliveries_failed = counter("llmgine.events.failed")
        self.delivery_duration = histogram("llmgine.event.delivery.duration")
        self._lock = threading.Lock()
        self._sources: weakref.WeakSet[Source] = weakref.WeakSet()
        for name, callback in (
            ("llmgine.background.pending", self._pending),
            ("llmgine.sessions.open", self._sessions),
        ):
            _, unit, description = METRICS[name]
            meter.create_observable_up_down_counter(
                name, callbacks=[callback], unit=unit, description=description
            )
        _, unit, description = METRICS["llmgine.background.dropped"]
        meter.create_observable_counter(
            "llmgine.background.dropped",
            callbacks=[self._dropped],
            unit=unit,
            description=description,
        )

    def add_source(self, source: Source) -> None:
        """Read ``source`` (one bus) at each collection from now on."""
        with self._lock:
            self._sources.add(source)

    def discard_source(self, source: Source) -> None:
        """Stop reading ``source`` (a no-op if it is not read)."""
        with self._lock:
            self._sources.discard(source)

    def sources(self) -> list[Source]:
        """The buses read now (a copy: a bus may start or stop during a collection)."""
        with self._lock:
            return list(self._sources)

    def _sessions(self, options: CallbackOptions) -> Iterator[Observation]:
        yield Observation(sum(source.open_sessions() for source in self.sources()))

    def _pending(self, options: CallbackOptions) -> Iterator[Observation]:
        yield from _by_subscriber(
            (name, pending)
            for source in self.sources()
            for name, pending, _ in source.background()
            if pending is not None
        )

    def _dropped(self, options: CallbackOptions) -> Iterator[Observation]:
        yield from _by_subscriber(
            (name, dropped) for source in self.sources() for name, _, dropped in source.background()
        )


def _by_subscriber(values: Iterable[tuple[str, int]]) -> Iterator[Observation]:
    """One observation per subscriber name, adding up its subscriptions (one per session
    that subscribed it, say) on every bus."""
    totals: Counter[str] = Counter()
    for name, value in values:
        totals[name] += value
    for name, total in totals.items():
        attributes: Attributes = {ATTRIBUTES["handler"]: name}
        yield Observation(total, attributes)


#: The instruments made so far, by provider. It belongs to the providers, not to any
#: bus (see the module docstring), and forgets a provider once it is gone.
_MADE: weakref.WeakKeyDictionary[metrics.MeterProvider, Instruments] = weakref.WeakKeyDictionary()
_MADE_LOCK = threading.Lock()


def instruments_for(meter_provider: metrics.MeterProvider | None) -> Instruments:
    """The instruments of ``meter_provider`` (``None``: the global one), made on first use."""
    provider = metrics.get_meter_provider() if meter_provider is None else meter_provider
    with _MADE_LOCK:
        found = _MADE.get(provider)
        if found is None:
            found = _MADE[provider] = Instruments(provider)
        return found
