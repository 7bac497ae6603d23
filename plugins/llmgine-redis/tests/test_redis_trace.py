"""OpenTelemetry trace context over Redis: subscribers and remote handlers run in the trace the
message was sent in; without a span (or without OpenTelemetry) no trace is sent; a malformed
trace is ignored, and the message is still handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
from typing import Any

import attrs
import llmgine_redis
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event, ResourceDeletedEvent
from llmgine_redis import EventConsumer
from llmgine_redis._wire import encode, spec_of
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext

pytestmark = pytest.mark.redis


@dataclasses.dataclass
class WhereAmI(Command[dict[str, str]]):
    key: str


WIRE_NAMES = {WhereAmI: "test.trace.WhereAmI"}
REMOTE_TYPES = [WhereAmI]


def current() -> SpanContext:
    return trace.get_current_span().get_span_context()


def ids(ctx: SpanContext) -> dict[str, str]:
    return {"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}"}


def where_am_i(command: WhereAmI) -> dict[str, str]:
    """A remote handler that answers with the span context it runs in."""
    return ids(current())


NO_SPAN = {"trace_id": "0" * 32, "span_id": "0" * 16}


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture
def tracer(provider: TracerProvider) -> trace.Tracer:
    return provider.get_tracer("test")


def finished(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def documents(raw: Any, stream: str) -> list[dict[str, Any]]:
    """The wire documents on ``stream``, oldest first."""
    return [json.loads(fields[b"m"]) for _, fields in raw.xrange(stream)]


def current_trace() -> dict[str, str]:
    """The trace context a sender in the current span puts on the wire."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def with_trace(message: Any, carried: Any, **extra: Any) -> str:
    """The wire document of ``message`` with ``carried`` as its ``trace``."""
    doc = json.loads(encode(message, spec_of(type(message)), **extra))  # type: ignore[arg-type]
    doc["trace"] = carried
    return json.dumps(doc)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_remote_subscriber_runs_in_the_span_the_event_was_emitted_in(
    config, pump, raw, tracer, exporter, kind
):
    cfg = config()
    sender, receiver = MessageBus.isolated(), MessageBus.isolated()
    llmgine_redis.install(sender, **attrs.asdict(cfg))
    seen: list[SpanContext] = []

    def subscriber(event: Event) -> None:
        seen.append(current())
        with tracer.start_as_current_span("subscriber work"):
            pass

    async def async_subscriber(event: Event) -> None:
        await asyncio.sleep(0)
        subscriber(event)

    receiver.subscribe_event("resource.deleted", subscriber if kind == "sync" else async_subscriber)
    reader = EventConsumer(receiver, cfg, "svc")
    await reader.ensure_groups()
    event = ResourceDeletedEvent(resource_id="r1", resource_type="doc")
    with tracer.start_as_current_span("publish") as span:
        if kind == "sync":
            sender.emit(event)
        else:
            await sender.emit_async(event)
    await pump([reader], lambda: reader.processed == 1)

    publisher = span.get_span_context()
    (doc,) = documents(raw, cfg.event_stream)
    assert list(doc["trace"]) == ["traceparent"]  # W3C: version-trace id-parent id-flags
    assert doc["trace"]["traceparent"].startswith(
        "00-{trace_id}-{span_id}-".format(**ids(publisher))
    )
    (ctx,) = seen
    assert ids(ctx) == ids(publisher)
    assert ctx.is_remote
    (work,) = finished(exporter, "subscriber work")
    assert work.context.trace_id == publisher.trace_id
    assert work.parent is not None
    assert work.parent.span_id == publisher.span_id
    assert not current().is_valid  # the consumer put its own context back
    llmgine_redis.disable(sender)


async def test_a_retried_subscriber_runs_in_the_publishers_span_again(config, pump, tracer):
    cfg = config(max_attempts=2)
    sender, receiver = MessageBus.isolated(), MessageBus.isolated()
    llmgine_redis.install(sender, **attrs.asdict(cfg))
    seen: list[dict[str, str]] = []

    def flaky(event: Event) -> None:
        seen.append(ids(current()))
        if len(seen) == 1:
            raise RuntimeError("fails once")

    receiver.subscribe_event("resource.deleted", flaky)
    reader = EventConsumer(receiver, cfg, "svc")
    await reader.ensure_groups()
    with tracer.start_as_current_span("publish") as span:
        sender.emit(ResourceDeletedEvent(resource_id="r1", resource_type="doc"))
    await pump([reader], lambda: reader.processed == 1)
    assert seen == [ids(span.get_span_context())] * 2
    llmgine_redis.disable(sender)


async def test_with_llmgine_otel_the_deliver_span_is_a_child_of_the_publishers_span(
    config, pump, tracer, provider, exporter
):
    from llmgine_otel import install  # installed next to this plugin by dev.py

    cfg = config()
    sender, receiver = MessageBus.isolated(), MessageBus.isolated()
    llmgine_redis.install(sender, **attrs.asdict(cfg))
    install(receiver, tracer_provider=provider)
    seen: list[SpanContext] = []
    receiver.subscribe_event("resource.deleted", lambda event: seen.append(current()))
    reader = EventConsumer(receiver, cfg, "svc")
    await reader.ensure_groups()
    with tracer.start_as_current_span("publish") as span:
        sender.emit(ResourceDeletedEvent(resource_id="r1", resource_type="doc"))
    await pump([reader], lambda: reader.processed == 1)

    publisher = span.get_span_context()
    (deliver,) = finished(exporter, "deliver resource.deleted")
    assert deliver.context.trace_id == publisher.trace_id
    assert deliver.parent is not None
    assert deliver.parent.span_id == publisher.span_id
    assert [ids(ctx) for ctx in seen] == [ids(deliver.context)]  # the subscriber runs in it
    llmgine_redis.disable(sender)


@pytest.mark.parametrize("otel", [False, True], ids=["plain", "llmgine-otel"])
async def test_a_remote_command_runs_in_the_span_it_was_dispatched_in(
    config, serving, tracer, provider, exporter, otel
):
    cfg = attrs.asdict(config())
    caller_bus, worker_bus = MessageBus.isolated(), MessageBus.isolated()
    worker_bus.register_command(WhereAmI, where_am_i)
    if otel:
        from llmgine_otel import install  # installed next to this plugin by dev.py

        install(worker_bus, tracer_provider=provider)
    caller = llmgine_redis.install(caller_bus, **cfg)
    worker = llmgine_redis.install(worker_bus, worker=True, **cfg)
    async with serving(worker):  # the worker's task starts outside the caller's span
        with tracer.start_as_current_span("request") as span:
            answer = await caller_bus.dispatch_async(WhereAmI("k"))
    await caller.aclose()
    await worker.aclose()

    request = span.get_span_context()
    if otel:
        (dispatch,) = finished(exporter, "dispatch WhereAmI")
        assert dispatch.context.trace_id == request.trace_id
        assert dispatch.parent is not None
        assert dispatch.parent.span_id == request.span_id
        assert answer == ids(dispatch.context)
    else:
        assert answer == ids(request)


@pytest.mark.parametrize("how", ["no span", "no opentelemetry"])
async def test_without_a_span_or_opentelemetry_no_trace_is_sent_and_all_is_delivered(
    config, pump, raw, serving, tracer, monkeypatch, how
):
    cfg = config()
    sender, receiver = MessageBus.isolated(), MessageBus.isolated()
    llmgine_redis.install(sender, **attrs.asdict(cfg))
    worker_bus = MessageBus.isolated()
    worker_bus.register_command(WhereAmI, where_am_i)
    worker = llmgine_redis.install(worker_bus, worker=True, **attrs.asdict(cfg))
    got: list[Event] = []
    receiver.subscribe_event("resource.deleted", got.append)
    reader = EventConsumer(receiver, cfg, "svc")
    await reader.ensure_groups()
    traced = ResourceDeletedEvent(resource_id="traced", resource_type="doc")
    with tracer.start_as_current_span("elsewhere"):  # a trace sent by a service that has one
        raw.xadd(cfg.event_stream, {"m": encode(traced, spec_of(type(traced)), current_trace())})
    async with serving(worker):
        with contextlib.ExitStack() as stack:
            if how == "no opentelemetry":  # a span is active, but the plugin cannot see it
                stack.enter_context(tracer.start_as_current_span("invisible"))
                monkeypatch.setitem(sys.modules, "opentelemetry", None)
            sender.emit(ResourceDeletedEvent(resource_id="r1", resource_type="doc"))
            answer = await sender.dispatch_async(WhereAmI("k"))
            await pump([reader], lambda: len(got) == 2)
            monkeypatch.undo()
    await worker.aclose()
    llmgine_redis.disable(sender)

    assert [event.resource_id for event in got] == ["traced", "r1"]
    assert answer == NO_SPAN
    assert "trace" in documents(raw, cfg.event_stream)[0]
    assert "trace" not in documents(raw, cfg.event_stream)[1]
    (command,) = documents(raw, cfg.command_stream("test.trace.WhereAmI"))
    assert "trace" not in command


REMOTE = {"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331"}
TRACEPARENT = "00-{trace_id}-{span_id}-01".format(**REMOTE)
#: name -> (the ``trace`` of a wire document, the span context its handler runs in)
HOSTILE_TRACES: dict[str, tuple[Any, dict[str, str]]] = {
    "a string": (TRACEPARENT, NO_SPAN),
    "a list": (["traceparent"], NO_SPAN),
    "a number": (7, NO_SPAN),
    "a number as traceparent": ({"traceparent": 5}, NO_SPAN),
    "a list as traceparent": ({"traceparent": [TRACEPARENT]}, NO_SPAN),
    "an object as traceparent": ({"traceparent": {"v": "00"}}, NO_SPAN),
    "a number as baggage": ({"baggage": 7}, NO_SPAN),
    # only the malformed entry is dropped: the valid traceparent is still followed
    "a number as tracestate": ({"traceparent": TRACEPARENT, "tracestate": 5}, REMOTE),
    "garbage text": ({"traceparent": "garbage", "tracestate": "=,=", "baggage": "%%;="}, NO_SPAN),
}


async def test_an_event_with_a_malformed_trace_is_delivered_without_it(config, pump, raw, tracer):
    cfg = config()
    receiver = MessageBus.isolated()
    seen: list[tuple[str, dict[str, str]]] = []
    receiver.subscribe_event(
        "resource.deleted", lambda event: seen.append((event.resource_id, ids(current())))
    )
    reader = EventConsumer(receiver, cfg, "svc")
    await reader.ensure_groups()
    for name, (carried, _) in HOSTILE_TRACES.items():
        event = ResourceDeletedEvent(resource_id=name, resource_type="doc")
        raw.xadd(cfg.event_stream, {"m": with_trace(event, carried)})
    with tracer.start_as_current_span("publish") as span:
        fine = ResourceDeletedEvent(resource_id="fine", resource_type="doc")
        raw.xadd(cfg.event_stream, {"m": with_trace(fine, current_trace())})
    await pump([reader], lambda: len(seen) == len(HOSTILE_TRACES) + 1)

    # A trace is not the event: a malformed one is ignored, the event is not lost.
    expected = [(name, context) for name, (_, context) in HOSTILE_TRACES.items()]
    assert seen == [*expected, ("fine", ids(span.get_span_context()))]
    assert raw.xlen(f"{cfg.event_stream}:dead") == 0
    assert raw.xpending(cfg.event_stream, "svc")["pending"] == 0


async def where_am_i_server(cfg: Any) -> tuple[Any, Any, str]:
    """A worker serving WhereAmI over Redis: its transport, command server and stream."""
    worker_bus = MessageBus.isolated()
    worker_bus.register_command(WhereAmI, where_am_i)
    worker = llmgine_redis.install(worker_bus, worker=True, **attrs.asdict(cfg))
    server = worker.command_server()
    assert server is not None
    await server.ensure_groups()
    return worker, server, cfg.command_stream("test.trace.WhereAmI")


async def test_a_command_with_a_malformed_trace_runs_without_it(config, pump, raw):
    cfg = config()
    worker, server, stream = await where_am_i_server(cfg)
    replies = []
    for name, (carried, _) in HOSTILE_TRACES.items():
        command = WhereAmI(name)
        reply_to = cfg.reply_key(command.command_id)
        raw.xadd(stream, {"m": with_trace(command, carried, reply_to=reply_to)})
        replies.append(reply_to)
    await pump([server], lambda: server.served == len(HOSTILE_TRACES))
    await worker.aclose()

    outcomes = [json.loads(raw.lpop(key)) for key in replies]
    assert outcomes == [{"ok": True, "result": context} for _, context in HOSTILE_TRACES.values()]
    assert raw.xlen(f"{stream}:dead") == 0
    assert raw.xpending(stream, cfg.command_group)["pending"] == 0


class _Choking(TextMapPropagator):  # type: ignore[misc]
    """A propagator that fails on every trace it is given (older ones did on odd text)."""

    def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
        raise ValueError("cannot parse this trace")

    def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
        propagate_default.inject(carrier, context)

    @property
    def fields(self) -> set[str]:
        return set()


propagate_default = propagate.get_global_textmap()


async def test_a_trace_the_propagator_fails_on_is_ignored_and_the_message_handled(
    config, pump, raw, caplog
):
    cfg = config()
    receiver = MessageBus.isolated()
    seen: list[str] = []
    receiver.subscribe_event("resource.deleted", lambda event: seen.append(event.resource_id))
    reader = EventConsumer(receiver, cfg, "svc")
    await reader.ensure_groups()
    worker, server, stream = await where_am_i_server(cfg)
    command = WhereAmI("k")
    reply_to = cfg.reply_key(command.command_id)
    carried = {"traceparent": TRACEPARENT}
    raw.xadd(stream, {"m": with_trace(command, carried, reply_to=reply_to)})
    event = ResourceDeletedEvent(resource_id="r1", resource_type="doc")
    raw.xadd(cfg.event_stream, {"m": with_trace(event, carried)})

    propagate.set_global_textmap(_Choking())
    try:
        await pump([reader, server], lambda: seen == ["r1"] and server.served == 1)
    finally:
        propagate.set_global_textmap(propagate_default)
    await worker.aclose()

    assert json.loads(raw.lpop(reply_to)) == {"ok": True, "result": NO_SPAN}
    assert raw.xpending(cfg.event_stream, "svc")["pending"] == 0
    assert raw.xpending(stream, cfg.command_group)["pending"] == 0
    assert raw.xlen(f"{cfg.event_stream}:dead") == 0
    warnings = [r.getMessage() for r in caplog.records if r.name == "llmgine.redis"]
    assert sum("ignored a message's trace context" in w for w in warnings) == 2
