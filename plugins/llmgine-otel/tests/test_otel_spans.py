"""llmgine-otel: spans per dispatch and per subscriber call, checked with the in-memory exporter."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

import llmgine_otel._spans
import llmgine_otel.plugin
import pytest
from llmgine.messages import Command, Event, MessageBus, message_bus
from llmgine.middleware import Retry
from llmgine_otel import install
from opentelemetry import context, propagate, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode


@dataclass
class Order(Command[str]):
    item: str


@dataclass
class Charge(Command[str]):
    amount: int


@dataclass
class Ordered(Event):
    event_type = "order.placed"
    item: str


@dataclass
class Receipt(Event):
    event_type = "receipt.sent"


def order_on(bus: MessageBus) -> Any:
    def order(command: Order) -> str:
        if not command.item:
            raise ValueError("empty item")
        message_bus.add_pending_event(Ordered(item=command.item))
        return bus.dispatch(Charge(amount=3))

    return order


def charge(command: Charge) -> str:
    return "ch_1"


def send_receipt(event: Ordered) -> None:
    message_bus.add_pending_event(Receipt())


def aorder_on(bus: MessageBus) -> Any:
    async def aorder(command: Order) -> str:
        await asyncio.sleep(0)
        message_bus.add_pending_event(Ordered(item=command.item))
        return await bus.dispatch_async(Charge(amount=3))

    return aorder


async def asend_receipt(event: Ordered) -> None:
    await asyncio.sleep(0)
    message_bus.add_pending_event(Receipt())


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced_bus(llmgine_bus: MessageBus, exporter: InMemorySpanExporter) -> MessageBus:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    install(llmgine_bus, tracer_provider=provider)
    return llmgine_bus


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    spans = exporter.get_finished_spans()
    found = {span.name: span for span in spans}
    assert len(found) == len(spans), [s.name for s in spans]
    return found


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def check_tree(exporter: InMemorySpanExporter, command: Order) -> None:
    spans = by_name(exporter)
    dispatch, nested = spans["dispatch Order"], spans["dispatch Charge"]
    ordered, receipt = spans["deliver order.placed"], spans["deliver receipt.sent"]
    assert dispatch.parent is None
    assert parent_of(nested) == dispatch.context.span_id  # dispatched inside the handler
    assert parent_of(ordered) == dispatch.context.span_id  # queued by the handler
    assert parent_of(receipt) == ordered.context.span_id  # queued by the subscriber
    assert {s.context.trace_id for s in spans.values()} == {dispatch.context.trace_id}
    attributes = dict(ordered.attributes or {})
    assert attributes["llmgine.correlation_id"] == command.command_id
    assert attributes["llmgine.causation_id"] == command.command_id
    assert attributes["llmgine.message.kind"] == "event"
    assert attributes["llmgine.event_type"] == "order.placed"
    assert str(attributes["llmgine.handler"]).endswith("send_receipt")
    assert dict(dispatch.attributes or {})["llmgine.message.id"] == command.command_id


@pytest.mark.parametrize("path", ["sync", "async"])
def test_spans_follow_causation(
    traced_bus: MessageBus, exporter: InMemorySpanExporter, path: str
) -> None:
    is_async = path == "async"
    traced_bus.register_command(Order, (aorder_on if is_async else order_on)(traced_bus))
    traced_bus.register_command(Charge, charge)
    traced_bus.subscribe_event(Ordered, asend_receipt if is_async else send_receipt)
    traced_bus.subscribe_event(Receipt, lambda event: None)
    command = Order(item="book")
    if is_async:
        assert asyncio.run(traced_bus.dispatch_async(command)) == "ch_1"
    else:
        assert traced_bus.dispatch(command) == "ch_1"
    check_tree(exporter, command)


def test_failures_are_recorded_on_the_span(
    traced_bus: MessageBus, exporter: InMemorySpanExporter
) -> None:
    traced_bus.register_command(Order, order_on(traced_bus))
    with pytest.raises(ValueError, match="empty item"):
        traced_bus.dispatch(Order(item=""))
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError: empty item"
    assert [e.name for e in span.events] == ["exception"]


def test_an_event_emitted_alone_starts_its_own_trace(
    traced_bus: MessageBus, exporter: InMemorySpanExporter
) -> None:
    traced_bus.subscribe_event(Receipt, lambda event: None)
    traced_bus.emit(Receipt())
    traced_bus.emit(Receipt())
    first, second = exporter.get_finished_spans()
    assert first.parent is None
    assert first.context.trace_id != second.context.trace_id


def test_an_event_from_another_process_continues_the_trace_it_was_sent_in(
    traced_bus: MessageBus, exporter: InMemorySpanExporter
) -> None:
    # What a transport does on receiving an event: make its publisher's span current.
    sent = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    traced_bus.subscribe_event(Receipt, lambda event: None)
    token = context.attach(propagate.extract(sent))
    try:
        traced_bus.deliver(Receipt())
    finally:
        context.detach(token)
    (span,) = exporter.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == "b7ad6b7169203331"


def test_an_event_emitted_alone_inside_a_local_span_still_starts_its_own_trace(
    traced_bus: MessageBus, exporter: InMemorySpanExporter
) -> None:
    traced_bus.subscribe_event(Receipt, lambda event: None)
    with TracerProvider().get_tracer("test").start_as_current_span("request") as request:
        traced_bus.emit(Receipt())
    (span,) = exporter.get_finished_spans()
    assert span.parent is None
    assert span.context.trace_id != request.get_span_context().trace_id


@pytest.fixture
def otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("LLMGINE_OTEL", "LLMGINE_OTEL_TRACES", "LLMGINE_OTEL_METRICS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_plugin_is_idle_until_enabled(
    llmgine_bus: MessageBus, llmgine_load_plugin: Any, otel_env: pytest.MonkeyPatch
) -> None:
    status = llmgine_otel.plugin.plugin_status()
    assert not status.active
    assert status.activate is not None
    assert "LLMGINE_OTEL=1" in status.activate
    llmgine_load_plugin(llmgine_otel.plugin)
    assert llmgine_bus.middleware.command == ()
    assert llmgine_bus.middleware.event == ()

    otel_env.setenv("LLMGINE_OTEL", "1")
    otel_env.setenv("LLMGINE_OTEL_METRICS", "0")  # spans only (metrics: test_otel_metrics.py)
    assert llmgine_otel.plugin.plugin_status().active
    other = MessageBus.isolated()
    llmgine_load_plugin(llmgine_otel.plugin, bus=other)
    assert [type(m) for m in other.middleware.command] == [type(llmgine_otel.Spans().commands)]
    assert [type(m) for m in other.middleware.event] == [type(llmgine_otel.Spans().events)]


def test_installed_distribution_is_listed_idle_then_active() -> None:
    env = {k: v for k, v in os.environ.items() if k != "LLMGINE_OTEL"}
    cli = [sys.executable, "-m", "llmgine.cli", "plugins", "--json"]

    def otel_row(extra: dict[str, str]) -> dict[str, Any]:
        out = subprocess.run(cli, env={**env, **extra}, capture_output=True, text=True, check=True)
        rows = {row["name"]: row for row in json.loads(out.stdout)}
        assert "otel" in rows, "pip install -e plugins/llmgine-otel (python3 dev.py does)"
        return rows["otel"]

    idle = otel_row({})
    assert idle["state"] == "idle"
    assert idle["distribution"] == "llmgine-otel"
    assert otel_row({"LLMGINE_OTEL": "1"})["state"] == "active"


@pytest.mark.parametrize("path", ["sync", "async"])
def test_the_subscriber_span_is_current_in_the_subscriber(
    traced_bus: MessageBus, exporter: InMemorySpanExporter, path: str
) -> None:
    seen: list[int] = []

    def plain(event: Receipt) -> None:
        seen.append(trace.get_current_span().get_span_context().span_id)

    async def coroutine(event: Receipt) -> None:
        await asyncio.sleep(0)
        seen.append(trace.get_current_span().get_span_context().span_id)

    if path == "sync":
        traced_bus.subscribe_event(Receipt, plain)
        traced_bus.emit(Receipt())
    else:
        traced_bus.subscribe_event(Receipt, coroutine)
        asyncio.run(traced_bus.emit_async(Receipt()))
    (span,) = exporter.get_finished_spans()
    assert seen == [span.context.span_id]
    assert not trace.get_current_span().get_span_context().is_valid  # detached again


class Flaky(Command[str]):
    retryable = True


def test_a_command_dispatched_by_a_later_subscriber_nests_under_that_subscriber(
    traced_bus: MessageBus, exporter: InMemorySpanExporter
) -> None:
    traced_bus.register_command(Charge, charge)
    traced_bus.subscribe_event(Receipt, lambda event: None)
    traced_bus.subscribe_event(Receipt, lambda event: traced_bus.dispatch(Charge(amount=1)))
    traced_bus.emit(Receipt())
    _, dispatch, second = exporter.get_finished_spans()
    assert dispatch.name == "dispatch Charge"
    assert parent_of(dispatch) == second.context.span_id


def test_the_subscriber_calls_of_an_event_emitted_alone_share_its_trace(
    traced_bus: MessageBus, exporter: InMemorySpanExporter
) -> None:
    traced_bus.subscribe_event(Receipt, lambda event: None)
    traced_bus.subscribe_event(Receipt, lambda event: None)
    traced_bus.emit(Receipt())
    first, second = exporter.get_finished_spans()
    assert first.parent is None
    assert parent_of(second) == first.context.span_id
    assert second.context.trace_id == first.context.trace_id


def test_events_of_a_retried_command_nest_under_the_attempt_that_succeeded(
    llmgine_bus: MessageBus, exporter: InMemorySpanExporter
) -> None:
    # Retry added before the spans (as a host's middleware goes outside a plugin's):
    # every attempt has a span, and only the last one's events are published.
    llmgine_bus.add_command_middleware(Retry(backoff=0))
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    install(llmgine_bus, tracer_provider=provider)
    attempts: list[int] = []

    def flaky(command: Flaky) -> str:
        attempts.append(1)
        message_bus.add_pending_event(Receipt())
        if len(attempts) == 1:
            raise ValueError("first attempt")
        return "ok"

    llmgine_bus.register_command(Flaky, flaky)
    llmgine_bus.subscribe_event(Receipt, lambda event: None)
    assert llmgine_bus.dispatch(Flaky()) == "ok"
    failed, succeeded, deliver = exporter.get_finished_spans()
    assert failed.status.status_code is StatusCode.ERROR
    assert parent_of(deliver) == succeeded.context.span_id


def test_dispatches_on_many_threads_survive_the_span_memory_filling_up(
    traced_bus: MessageBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Once the memory is full every span evicts the oldest entry; threads evicting at
    # once made dispatch raise KeyError (or RuntimeError) from the middleware.
    monkeypatch.setattr(llmgine_otel._spans, "_MEMORY", 2)
    traced_bus.register_command(Charge, charge)
    errors: list[BaseException] = []

    def work() -> None:
        for _ in range(3000):
            try:
                traced_bus.dispatch(Charge(amount=1))
            except Exception as exc:
                errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
