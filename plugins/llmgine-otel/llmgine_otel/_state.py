"""The plugin's state on one bus: whether it makes spans and metrics there, and where to.

Made by ``install(bus, ...)`` (on) or, without it, from ``LLMGINE_OTEL`` (and
``LLMGINE_OTEL_TRACES`` / ``LLMGINE_OTEL_METRICS``) when the plugin is registered on the
bus. Kept in a :class:`~llmgine.plugins.BusState`, so one bus can be observed while
another is not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmgine.messages.bus import MessageBus, message_bus
from llmgine.plugins import BusState, env_flag, install_plugin
from opentelemetry import trace
from opentelemetry.metrics import MeterProvider

from ._instruments import instruments_for
from ._metrics import BusMetrics
from ._spans import Spans

if TYPE_CHECKING:
    from llmgine.plugins import PluginInfo

__all__ = [
    "ENABLE_ENV",
    "METRICS_ENV",
    "TRACES_ENV",
    "OtelState",
    "find_state",
    "install",
    "state_of",
    "sync_metrics",
]

#: Set to 1/true/yes/on to switch the plugin on for the buses ``register_handlers()`` sets up.
ENABLE_ENV = "LLMGINE_OTEL"
#: Set to 0/false/no/off to make no spans while the plugin is on (default: on).
TRACES_ENV = "LLMGINE_OTEL_TRACES"
#: Set to 0/false/no/off to record no metrics while the plugin is on (default: on).
METRICS_ENV = "LLMGINE_OTEL_METRICS"

#: The entry-point name the plugin is registered under.
PLUGIN_NAME = "otel"


class OtelState:
    """Whether spans and metrics are made on one bus, the providers they go to, and what
    the plugin added there."""

    __slots__ = (
        "enabled",
        "meter_provider",
        "metrics",
        "recorder",
        "slot",
        "spans",
        "tracer_provider",
        "traces",
    )

    def __init__(
        self,
        *,
        enabled: bool,
        traces: bool = True,
        metrics: bool = True,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        #: whether the plugin is on (then ``traces`` and ``metrics`` say which signals)
        self.enabled = enabled
        self.traces = traces
        self.metrics = metrics
        #: ``None``: the global TracerProvider
        self.tracer_provider = tracer_provider
        #: ``None``: the global MeterProvider
        self.meter_provider = meter_provider
        #: the span middleware added to the bus, once it is
        self.spans: Spans | None = None
        #: the metrics' middleware and observer, while they are on the bus
        self.recorder: BusMetrics | None = None
        #: the middleware slot the metrics go into (reserved when the plugin is registered)
        self.slot: int | None = None

    @property
    def records_metrics(self) -> bool:
        """Whether metrics are to be recorded on the bus."""
        return self.enabled and self.metrics

    @classmethod
    def from_env(cls) -> OtelState:
        """The state the environment describes (a state made without ``install``)."""
        return cls(
            enabled=env_flag(ENABLE_ENV),
            traces=env_flag(TRACES_ENV, default=True),
            metrics=env_flag(METRICS_ENV, default=True),
        )


_STATE: BusState[OtelState] = BusState("llmgine-otel")


def state_of(bus: MessageBus = message_bus) -> OtelState:
    """The plugin's state on ``bus``; made from the environment if ``install`` gave none."""
    return _STATE.setdefault(bus, OtelState.from_env)


def find_state(bus: MessageBus) -> OtelState | None:
    """The plugin's state on ``bus``, or ``None`` if none was made there yet."""
    return _STATE.get(bus)


def sync_metrics(bus: MessageBus, state: OtelState) -> None:
    """Start or stop recording metrics on ``bus`` (where the plugin is started) as
    ``state`` says, to the provider it names now."""
    recorder = state.recorder
    if recorder is not None:
        if state.records_metrics and recorder.instruments is instruments_for(state.meter_provider):
            recorder.start(state.slot)  # (a no-op if started)
            return
        recorder.stop()
        state.recorder = None
    if state.records_metrics:
        state.recorder = BusMetrics(bus, instruments_for(state.meter_provider))
        state.recorder.start(state.slot)


def stop_metrics(bus: MessageBus) -> None:
    """Take the metrics' middleware and observer off ``bus`` (the plugin's shutdown)."""
    state = find_state(bus)
    if state is not None and state.recorder is not None:
        state.recorder.stop()
        state.recorder = None


def install(
    bus: MessageBus,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    traces: bool | None = None,
    metrics: bool | None = None,
) -> PluginInfo:
    """Make spans and record metrics on ``bus`` (whatever ``LLMGINE_OTEL``).

    Spans go to ``tracer_provider`` and metrics to ``meter_provider`` (default: the
    global ones). ``traces=False`` makes no spans, ``metrics=False`` records no metrics
    (default: ``LLMGINE_OTEL_TRACES`` / ``LLMGINE_OTEL_METRICS``, which default to on).
    Registers and starts the plugin on ``bus`` (idempotent; ``register_handlers(bus)``
    before or after keeps these settings). Called again, or after
    ``register_handlers(bus)``, it reconfigures ``bus``: spans and metrics from then on
    go where it says (the span middleware is added once; ``traces=False`` then makes
    it a no-op).
    """
    if tracer_provider is not None and not isinstance(tracer_provider, trace.TracerProvider):
        raise TypeError(
            f"llmgine_otel.install(tracer_provider=...) needs an OpenTelemetry "
            f"TracerProvider, got {tracer_provider!r}"
        )
    if meter_provider is not None and not isinstance(meter_provider, MeterProvider):
        raise TypeError(
            f"llmgine_otel.install(meter_provider=...) needs an OpenTelemetry "
            f"MeterProvider, got {meter_provider!r}"
        )
    for name, value in (("traces", traces), ("metrics", metrics)):
        if value is not None and not isinstance(value, bool):
            raise TypeError(f"llmgine_otel.install({name}=...) needs True or False, got {value!r}")
    env = OtelState.from_env()
    state = OtelState(
        enabled=True,
        traces=env.traces if traces is None else traces,
        metrics=env.metrics if metrics is None else metrics,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    old = _STATE.get(bus)
    if old is not None:
        state.spans, state.recorder, state.slot = old.spans, old.recorder, old.slot
    if state.spans is not None:  # its middleware is on the bus already: point it elsewhere
        state.spans.tracer = _tracer(state)
    _STATE.set(bus, state)
    from . import plugin  # (the plugin module imports this one)

    info = install_plugin(bus, PLUGIN_NAME, plugin)
    if state.traces and state.spans is None:
        # Registered idle before: add the span middleware now (innermost).
        state.spans = Spans(tracer_provider)
        bus.add_command_middleware(state.spans.commands)
        bus.add_event_middleware(state.spans.events)
    if info.error is None:  # started there (its startup recorded metrics if it just ran)
        sync_metrics(bus, state)
    return info


def _tracer(state: OtelState) -> trace.Tracer:
    """The tracer the span middleware uses for ``state``: a no-op one if traces are off."""
    provider = state.tracer_provider if state.traces else trace.NoOpTracerProvider()
    return Spans(provider).tracer
