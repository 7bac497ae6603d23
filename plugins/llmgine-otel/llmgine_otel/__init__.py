"""OpenTelemetry for llmgine: a span per dispatch and per subscriber call, and metrics.

Installed, the plugin stays idle until ``LLMGINE_OTEL=1``; then
``register_handlers()`` adds :class:`Spans` middleware to the bus and records the
:data:`METRICS` (commands, events, background queues, sessions; see
docs/guide/metrics.md). ``LLMGINE_OTEL_TRACES=0`` or ``LLMGINE_OTEL_METRICS=0`` turns
one of the two off. A host can also switch it on for one bus, with providers of its own:
``llmgine_otel.install(bus, tracer_provider=..., meter_provider=...)``.
"""

from ._deprecated import instrument
from ._instruments import DURATION_BUCKETS, METRICS
from ._metrics import BusMetrics
from ._spans import ATTRIBUTES, Spans
from ._state import ENABLE_ENV, METRICS_ENV, TRACES_ENV, OtelState, install, state_of

__all__ = [
    "ATTRIBUTES",
    "DURATION_BUCKETS",
    "ENABLE_ENV",
    "METRICS",
    "METRICS_ENV",
    "TRACES_ENV",
    "BusMetrics",
    "OtelState",
    "Spans",
    "install",
    "instrument",
    "state_of",
]
