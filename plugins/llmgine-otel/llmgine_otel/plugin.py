"""The otel plugin's hooks: idle unless ``LLMGINE_OTEL=1`` or ``install(bus)``.

Installing the plugin changes nothing by itself: idle, it adds no middleware, so
dispatch costs what it costs without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import llmgine
from llmgine.messages.bus import MessageBus, message_bus
from llmgine.plugins import PluginStatus

from ._spans import Spans
from ._state import ENABLE_ENV, OtelState, find_state, state_of

__all__ = ["ENABLE_ENV", "enabled", "plugin_status", "register_middleware"]


def enabled(bus: MessageBus = message_bus) -> bool:
    """Whether the plugin makes spans on ``bus`` (``install``, else ``LLMGINE_OTEL``)."""
    state = find_state(bus) or OtelState.from_env()
    return state.enabled


@llmgine.hookimpl
def register_middleware(
    add_command_middleware: Callable[[Any], None],
    add_event_middleware: Callable[[Any], None],
    bus: MessageBus,
) -> None:
    """Add the span middleware when enabled on ``bus``."""
    state = state_of(bus)
    if state.enabled:
        state.spans = Spans(state.tracer_provider)
        add_command_middleware(state.spans.commands)
        add_event_middleware(state.spans.events)


@llmgine.hookimpl
def plugin_status() -> PluginStatus:
    """Active when LLMGINE_OTEL is set (or ``install`` switched it on for ``message_bus``)."""
    if enabled():
        return PluginStatus(
            active=True,
            detail="a span per dispatch and per subscriber call, to the global TracerProvider",
        )
    return PluginStatus(
        active=False,
        detail="idle: no spans are made",
        activate=f"set {ENABLE_ENV}=1 (or call llmgine_otel.install(bus)) and configure an "
        "OpenTelemetry SDK TracerProvider",
    )
