"""OpenTelemetry tracing for llmgine: a span per dispatch and per subscriber call.

Installed, the plugin stays idle until ``LLMGINE_OTEL=1``; then
``register_handlers()`` adds :class:`Spans` middleware to the bus. A host can also
switch it on for one bus, with a provider of its own: ``llmgine_otel.install(bus,
tracer_provider=provider)``.
"""

from ._deprecated import instrument
from ._spans import ATTRIBUTES, Spans
from ._state import ENABLE_ENV, OtelState, install, state_of

__all__ = ["ATTRIBUTES", "ENABLE_ENV", "OtelState", "Spans", "install", "instrument", "state_of"]
