"""OpenTelemetry tracing for llmgine: a span per dispatch and per subscriber call.

Installed, the plugin stays idle until ``LLMGINE_OTEL=1``; then
``register_handlers()`` adds :class:`Spans` middleware to the bus. Hosts can
also call :func:`instrument` on any bus themselves.
"""

from ._spans import ATTRIBUTES, Spans, instrument

__all__ = ["ATTRIBUTES", "Spans", "instrument"]
