"""The metric instruments: made once per ``MeterProvider``, shared by the buses reporting to it.

Counting costs the hot path only a dict increment: each bus counts into :class:`Tallies`
of its own, and the counters are *observable* ones, whose callbacks add the tallies up when
the metrics are collected (an OpenTelemetry SDK counter's ``add`` costs tens of function
calls, and a turn of an LLM conversation publishes hundreds of events). Only the command
duration histogram records each call (OpenTelemetry has no observable histogram).

An OpenTelemetry meter hands back the instrument it already has when one of the same name
is created again, and then drops the callbacks of the second observable one. So the
instruments of one provider are made once, and their callbacks read every bus that reports
to it (its sources) and add the values up: two buses' open sessions are the process's.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from ._spans import ATTRIBUTES

__all__ = ["DURATION_BUCKETS", "METRICS", "Instruments", "Source", "Tallies", "instruments_for"]

_TYPE = ATTRIBUTES["type"]
_EVENT_TYPE = ATTRIBUTES["event_type"]
_HANDLER = ATTRIBUTES["handler"]
_DROPPED = "llmgine.background.dropped"
#: the OpenTelemetry semantic conventions' attribute for the class of a failure
ERROR_TYPE = "error.type"

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
    "llmgine.background.pending": (
        "up-down counter",
        "{event}",
        "Events waiting on background subscribers' queues",
    ),
    "llmgine.background.dropped": (
        "counter",
        "{event}",
        "Events background subscribers' full queues dropped",
    ),
    "llmgine.sessions.open": ("up-down counter", "{session}", "Open sessions"),
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


class Tallies:
    """What one bus counted: commands by type, events by type, failures by error type.

    Each count is a read and a write of a dict, under a lock (threads dispatch and publish
    at once); the counters' callbacks read copies.
    """

    __slots__ = ("_lock", "counts")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: metric name -> (attribute values) -> count
        self.counts: dict[str, dict[tuple[str, ...], int]] = {
            name: {} for name, (kind, _, _) in METRICS.items() if kind == "counter"
        }

    def add(self, name: str, key: tuple[str, ...], count: int = 1) -> None:
        """Count ``count`` more of metric ``name`` with attribute values ``key``."""
        counts = self.counts[name]
        with self._lock:
            counts[key] = counts.get(key, 0) + count

    def merge(self, other: Tallies) -> None:
        """Add ``other``'s counts to these."""
        for name, mine in self.counts.items():
            counts = other.read(name)
            with self._lock:
                for key, count in counts.items():
                    mine[key] = mine.get(key, 0) + count

    def read(self, name: str) -> dict[tuple[str, ...], int]:
        """A copy of the counts of metric ``name``."""
        counts = self.counts[name]
        with self._lock:
            return dict(counts)


#: The attribute names of each counted metric's key, in order.
_KEYS: Mapping[str, tuple[str, ...]] = {
    "llmgine.commands.dispatched": (_TYPE,),
    "llmgine.commands.failed": (_TYPE, ERROR_TYPE),
    "llmgine.events.published": (_EVENT_TYPE,),
    "llmgine.events.delivered": (_EVENT_TYPE,),
    "llmgine.events.failed": (_EVENT_TYPE, ERROR_TYPE),
}


class Source(Protocol):
    """What the observable instruments read of one bus."""

    tallies: Tallies

    def open_sessions(self) -> int:
        """How many sessions are open."""

    def background(self) -> Iterable[tuple[str, int | None, int]]:
        """Each background subscription: (subscriber name, pending events or ``None`` if
        its queue does not say, dropped events not counted in its tallies yet)."""


class Instruments:
    """The instruments of one meter provider, and the buses they read."""

    def __init__(self, meter_provider: metrics.MeterProvider) -> None:
        meter = meter_provider.get_meter("llmgine_otel")
        _, unit, description = METRICS["llmgine.command.duration"]
        #: the one instrument recorded per call
        self.command_duration = meter.create_histogram(
            "llmgine.command.duration",
            unit=unit,
            description=description,
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._lock = threading.Lock()
        self._sources: weakref.WeakSet[Source] = weakref.WeakSet()
        # The counts are kept apart from the buses, so that a counter never goes back:
        # those of each started bus (kept even if the bus is dropped without closing),
        # and those of the buses that stopped, added up.
        self._tallies: list[Tallies] = []
        self._retired = Tallies()
        # A background queue's drops are read off the queue while its subscription is
        # live, and counted into its bus's tallies (folded) once it is gone; this says how
        # many of each queue's drops were folded, in case a restored snapshot brings its
        # subscription back (only those drops after are read off the queue then).
        self._folded: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()
        callbacks: dict[str, Callable[[CallbackOptions], Iterable[Observation]]] = {
            name: self._counted(name) for name in _KEYS
        }
        callbacks["llmgine.background.pending"] = self._pending
        callbacks["llmgine.background.dropped"] = self._dropped
        callbacks["llmgine.sessions.open"] = self._sessions
        for name, callback in callbacks.items():
            kind, unit, description = METRICS[name]
            create = (
                meter.create_observable_counter
                if kind == "counter"
                else meter.create_observable_up_down_counter
            )
            create(name, callbacks=[callback], unit=unit, description=description)

    def add_source(self, source: Source) -> None:
        """Read ``source`` (one bus) at each collection from now on."""
        with self._lock:
            if source not in self._sources:
                self._sources.add(source)
                self._tallies.append(source.tallies)

    def retire(self, source: Source) -> None:
        """Stop reading ``source``, keeping what it counted (a no-op if it is not read)."""
        with self._lock:
            if source not in self._sources:
                return
            self._sources.discard(source)
            self._tallies = [t for t in self._tallies if t is not source.tallies]
            self._retired.merge(source.tallies)

    def fold(self, tallies: Tallies, name: str, queue: Any) -> None:
        """Count the drops of ``queue`` (background subscriber ``name``'s) not counted yet
        into ``tallies``: its subscription is gone, or its bus is no longer read."""
        with self._lock:  # (a collection reads the queues and the tallies at once)
            dropped = queue.dropped
            done = self.folded(queue)
            if dropped > done:
                tallies.add(_DROPPED, (name,), dropped - done)
                with contextlib.suppress(TypeError):  # (one taking no weak reference: forgotten)
                    self._folded[queue] = dropped

    def folded(self, queue: object) -> int:
        """How many of ``queue``'s drops are counted in tallies already."""
        try:
            return self._folded.get(queue, 0)
        except TypeError:
            return 0

    def sources(self) -> list[Source]:
        """The buses read now (a copy: a bus may start or stop during a collection)."""
        with self._lock:
            return list(self._sources)

    def _counted(self, name: str) -> Callable[[CallbackOptions], Iterator[Observation]]:
        attribute_names = _KEYS[name]

        def observe(options: CallbackOptions) -> Iterator[Observation]:
            # Read under the lock, so a bus retiring meanwhile is counted once.
            with self._lock:
                counts = [one.read(name) for one in (self._retired, *self._tallies)]
            totals: Counter[tuple[str, ...]] = Counter()
            for one in counts:
                totals.update(one)
            for key, total in totals.items():
                yield Observation(total, dict(zip(attribute_names, key, strict=True)))

        return observe

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
        # The queues of live subscriptions and the tallies, read at once: a queue folded
        # into its tallies meanwhile (unsubscribed) would be counted twice or not at all.
        with self._lock:
            counted = [one.read(_DROPPED) for one in (self._retired, *self._tallies)]
            live = [
                (name, dropped)
                for source in list(self._sources)
                for name, _, dropped in source.background()
            ]
        folded = ((name, count) for one in counted for (name,), count in one.items())
        yield from _by_subscriber(itertools.chain(folded, live))


def _by_subscriber(values: Iterable[tuple[str, int]]) -> Iterator[Observation]:
    """One observation per subscriber name, adding up its subscriptions (one per session
    that subscribed it, say) on every bus."""
    totals: Counter[str] = Counter()
    for name, value in values:
        totals[name] += value
    for name, total in totals.items():
        yield Observation(total, {_HANDLER: name})


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
