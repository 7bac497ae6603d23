"""Setup names of 0.1 kept for one minor version: each warns and calls :func:`install`."""

from __future__ import annotations

import warnings

from llmgine.messages.bus import MessageBus
from opentelemetry import trace

from ._spans import Spans
from ._state import install, state_of

__all__ = ["instrument"]


def instrument(bus: MessageBus, tracer_provider: trace.TracerProvider | None = None) -> Spans:
    """Deprecated since 0.2: use ``llmgine_otel.install(bus, tracer_provider=...)``.

    Returns the span middleware on ``bus``, as before.
    """
    warnings.warn(
        "llmgine_otel.instrument(bus) is deprecated and will be removed in 0.3; use "
        "llmgine_otel.install(bus, tracer_provider=...), which registers the plugin there",
        DeprecationWarning,
        stacklevel=2,
    )
    install(bus, tracer_provider=tracer_provider)
    spans = state_of(bus).spans
    assert spans is not None  # (install adds it)
    return spans
