"""install(bus, tracer_provider=...): spans on that bus only; instrument() is deprecated."""

from __future__ import annotations

import attrs
import llmgine_otel
import pytest
from llmgine.messages import Command
from llmgine.messages.bus import MessageBus
from llmgine.plugins import register_handlers
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@attrs.frozen
class Ping(Command[str]):
    pass


def traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def ping_bus() -> MessageBus:
    bus = MessageBus.isolated()
    bus.register_command(Ping, lambda command: "pong")
    return bus


def test_install_traces_that_bus_only_and_after_register_handlers_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LLMGINE_OTEL", raising=False)
    provider, exporter = traced()
    bus, other = ping_bus(), ping_bus()
    register_handlers(bus)  # idle: no middleware
    register_handlers(other)
    llmgine_otel.install(bus, tracer_provider=provider)
    llmgine_otel.install(bus, tracer_provider=provider)  # idempotent: one span per dispatch
    register_handlers(bus)  # keeps it on
    bus.dispatch(Ping())
    other.dispatch(Ping())
    assert [s.name for s in exporter.get_finished_spans()] == [f"dispatch {Ping.__qualname__}"]

    again, exporter_again = traced()
    llmgine_otel.install(bus, tracer_provider=again)  # reconfigured: spans go there now
    bus.dispatch(Ping())
    assert len(exporter.get_finished_spans()) == 1
    assert len(exporter_again.get_finished_spans()) == 1


def test_install_refuses_a_provider_that_is_not_one() -> None:
    with pytest.raises(TypeError, match=r"install\(tracer_provider=\.\.\.\) needs"):
        llmgine_otel.install(ping_bus(), tracer_provider="jaeger")  # type: ignore[arg-type]


def test_instrument_is_a_deprecated_alias_of_install() -> None:
    provider, exporter = traced()
    bus = ping_bus()
    with pytest.warns(DeprecationWarning, match=r"llmgine_otel\.install\(bus"):
        spans = llmgine_otel.instrument(bus, tracer_provider=provider)
    assert isinstance(spans, llmgine_otel.Spans)
    bus.dispatch(Ping())
    assert len(exporter.get_finished_spans()) == 1
