"""The otel plugin's hooks: idle unless ``LLMGINE_OTEL=1`` or ``install(bus)``.

Installing the plugin changes nothing by itself: idle, it adds no middleware and no
event observer, so dispatch and publishing cost what they cost without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import llmgine
from llmgine.messages.bus import MessageBus, message_bus
from llmgine.plugins import PluginStatus

from ._spans import Spans
from ._state import (
    ENABLE_ENV,
    METRICS_ENV,
    TRACES_ENV,
    OtelState,
    find_state,
    state_of,
    stop_metrics,
    sync_metrics,
)

__all__ = [
    "ENABLE_ENV",
    "enabled",
    "plugin_status",
    "register_middleware",
    "shutdown",
    "startup",
]


def enabled(bus: MessageBus = message_bus) -> bool:
    """Whether the plugin is on for ``bus`` (``install``, else ``LLMGINE_OTEL``)."""
    state = find_state(bus) or OtelState.from_env()
    return state.enabled


@llmgine.hookimpl
def register_middleware(
    add_command_middleware: Callable[[Any], None],
    add_event_middleware: Callable[[Any], None],
    bus: MessageBus,
) -> None:
    """Add the span middleware when enabled on ``bus``; keep a place for the metrics'."""
    state = state_of(bus)
    # Reserved even while idle (a number, nothing per message): install() switching the
    # metrics on later puts them where the plugin stands among the middleware.
    state.slot = bus.reserve_middleware_slot()
    if state.enabled and state.traces:
        state.spans = Spans(state.tracer_provider)
        add_command_middleware(state.spans.commands)
        add_event_middleware(state.spans.events)


@llmgine.hookimpl
def startup(bus: MessageBus) -> None:
    """Start recording metrics on ``bus``, when enabled there."""
    sync_metrics(bus, state_of(bus))


@llmgine.hookimpl
def shutdown(bus: MessageBus) -> None:
    """Stop recording metrics on ``bus``: their middleware and event observer leave it."""
    stop_metrics(bus)


@llmgine.hookimpl
def plugin_status() -> PluginStatus:
    """Active when LLMGINE_OTEL is set (or ``install`` switched it on for ``message_bus``)."""
    state = find_state(message_bus) or OtelState.from_env()
    if not state.enabled:
        return PluginStatus(
            active=False,
            detail="idle: no spans or metrics are made",
            activate=f"set {ENABLE_ENV}=1 (or call llmgine_otel.install(bus)) and configure "
            "an OpenTelemetry SDK TracerProvider and MeterProvider",
        )
    made = []
    if state.traces:
        made.append("a span per dispatch and per subscriber call")
    if state.metrics:
        made.append("metrics of commands, events, background queues and sessions")
    if not made:
        return PluginStatus(
            active=True, detail=f"on, but {TRACES_ENV}=0 and {METRICS_ENV}=0 leave nothing to make"
        )
    return PluginStatus(active=True, detail=" and ".join(made))
