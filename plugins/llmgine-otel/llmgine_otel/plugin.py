"""The otel plugin's hooks: idle unless ``LLMGINE_OTEL=1``.

Installing the plugin changes nothing by itself: with the variable unset it adds
no middleware, so dispatch costs what it costs without it.
"""

from __future__ import annotations

import os
from typing import Any

import llmgine
from llmgine.plugins import PluginStatus

from ._spans import Spans

#: Set to 1/true/yes/on to open spans.
ENABLE_ENV = "LLMGINE_OTEL"


def enabled() -> bool:
    """Whether ``LLMGINE_OTEL`` switches the plugin on."""
    return os.environ.get(ENABLE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@llmgine.hookimpl
def register_middleware(add_command_middleware: Any, add_event_middleware: Any) -> None:
    """Add the span middleware when enabled (spans go to the global TracerProvider)."""
    if enabled():
        spans = Spans()
        add_command_middleware(spans.commands)
        add_event_middleware(spans.events)


@llmgine.hookimpl
def plugin_status() -> PluginStatus:
    """Active when LLMGINE_OTEL is set."""
    if enabled():
        return PluginStatus(
            active=True,
            detail="a span per dispatch and per subscriber call, to the global TracerProvider",
        )
    return PluginStatus(
        active=False,
        detail="idle: no spans are made",
        activate=f"set {ENABLE_ENV}=1 and configure an OpenTelemetry SDK TracerProvider",
    )
