"""The plugin's state on one bus: whether it makes spans there, and with which provider.

Made by ``install(bus, tracer_provider=...)`` (on) or, without it, from ``LLMGINE_OTEL``
when the plugin is registered on the bus. Kept in a :class:`~llmgine.plugins.BusState`,
so one bus can be traced while another is not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmgine.messages.bus import MessageBus, message_bus
from llmgine.plugins import BusState, env_flag, install_plugin
from opentelemetry import trace

from ._spans import Spans

if TYPE_CHECKING:
    from llmgine.plugins import PluginInfo

__all__ = ["ENABLE_ENV", "OtelState", "find_state", "install", "state_of"]

#: Set to 1/true/yes/on to open spans on the buses ``register_handlers()`` sets up.
ENABLE_ENV = "LLMGINE_OTEL"

#: The entry-point name the plugin is registered under.
PLUGIN_NAME = "otel"


class OtelState:
    """Whether spans are made on one bus, the provider they go to, and the middleware added."""

    __slots__ = ("enabled", "spans", "tracer_provider")

    def __init__(
        self, *, enabled: bool, tracer_provider: trace.TracerProvider | None = None
    ) -> None:
        self.enabled = enabled
        #: ``None``: the global TracerProvider
        self.tracer_provider = tracer_provider
        #: the middleware added to the bus, once it is
        self.spans: Spans | None = None

    @classmethod
    def from_env(cls) -> OtelState:
        """The state ``LLMGINE_OTEL`` describes (a state made without ``install``)."""
        return cls(enabled=env_flag(ENABLE_ENV))


_STATE: BusState[OtelState] = BusState("llmgine-otel")


def state_of(bus: MessageBus = message_bus) -> OtelState:
    """The plugin's state on ``bus``; made from the environment if ``install`` gave none."""
    return _STATE.setdefault(bus, OtelState.from_env)


def find_state(bus: MessageBus) -> OtelState | None:
    """The plugin's state on ``bus``, or ``None`` if none was made there yet."""
    return _STATE.get(bus)


def install(bus: MessageBus, *, tracer_provider: trace.TracerProvider | None = None) -> PluginInfo:
    """Make a span per dispatch and per subscriber call on ``bus`` (whatever ``LLMGINE_OTEL``).

    Spans go to ``tracer_provider`` (default: the global one). Registers and starts
    the plugin on ``bus`` (idempotent; ``register_handlers(bus)`` before or after keeps
    these settings). Called again, or after ``register_handlers(bus)``, it reconfigures
    ``bus``: spans from then on go to the new provider; the middleware is added once.
    """
    if tracer_provider is not None and not isinstance(tracer_provider, trace.TracerProvider):
        raise TypeError(
            f"llmgine_otel.install(tracer_provider=...) needs an OpenTelemetry "
            f"TracerProvider, got {tracer_provider!r}"
        )
    old = _STATE.get(bus)
    state = OtelState(enabled=True, tracer_provider=tracer_provider)
    _STATE.set(bus, state)
    if old is not None and old.spans is not None:
        old.spans.tracer = Spans(tracer_provider).tracer  # its middleware is on the bus already
        state.spans = old.spans
    from . import plugin  # (the plugin module imports this one)

    info = install_plugin(bus, PLUGIN_NAME, plugin)
    if state.spans is None:  # registered idle before: add the middleware now (innermost)
        state.spans = Spans(tracer_provider)
        bus.add_command_middleware(state.spans.commands)
        bus.add_event_middleware(state.spans.events)
    return info
