"""Events through a real Redis: round trips, fan-out, retries, dedup, dead letters, no echo."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import attrs
import llmgine_redis
import pytest
from llmgine.messages import events as core_events
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event
from llmgine_redis import EventConsumer, RedisConfig, TransportError
from llmgine_redis._packed import xadd_batch

pytestmark = pytest.mark.redis


@dataclasses.dataclass
class InvoicePaid(Event):
    invoice: str
    amount: float
    lines: list[str]
    meta: dict[str, Any]
    paid_at: datetime
    note: str | None = None
    retries: int = 0


WIRE_NAMES = {InvoicePaid: "test.InvoicePaid"}


def core_samples() -> list[Event]:
    ev = core_events
    return [
        ev.ResourceEvent(resource_id="r0", resource_type="doc"),
        ev.ResourceCreatedEvent(resource_id="r1", resource_type="doc", resource_data={"a": [1]}),
        ev.ResourceUpdatedEvent(resource_id="r1", resource_type="doc", resource_data={"b": None}),
        ev.ResourceDeletedEvent(resource_id="r1", resource_type="doc"),
        ev.WorkflowEvent(workflow_name="wf", run_id="run"),
        ev.WorkflowStartedEvent(workflow_name="wf", run_id="run", input={"q": "x"}),
        ev.WorkflowStepCompletedEvent(
            workflow_name="wf", run_id="run", step_name="s", step_index=2, result={"ok": True}
        ),
        ev.WorkflowCompletedEvent(workflow_name="wf", run_id="run", results={"s": 1.5}),
        ev.WorkflowFailedEvent(
            workflow_name="wf", run_id="run", step_name="s", error_type="E", error_message="m"
        ),
        ev.SystemEvent(component="db", severity="warning", message="slow", details={"ms": 9}),
        in_session(ev.SessionStarted(), "conversation-1"),
        in_session(ev.SessionEnded(error="ValueError: bad input"), "conversation-1"),
    ]


def in_session(event: Event, session_id: str) -> Event:
    """``event`` with the session id a session would give it (a slot, not a field)."""
    object.__setattr__(event, "session_id", session_id)
    return event


def snapshot(event: Event) -> dict[str, Any]:
    fields = attrs.asdict(event) if attrs.has(type(event)) else dataclasses.asdict(event)  # type: ignore[call-overload]
    return {
        "class": type(event),
        "event_type": event.event_type,
        "event_id": event.event_id,
        "timestamp": event.timestamp,
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "session_id": event.session_id,
        **fields,
    }


def consumer(bus: MessageBus, config: RedisConfig, group: str, name: str = "c1") -> EventConsumer:
    return EventConsumer(bus, config, group, consumer=name)


async def test_every_core_event_and_a_user_event_round_trip_field_for_field(config, pump):
    cfg = config()
    sender, receiver = MessageBus.isolated(), MessageBus.isolated()
    llmgine_redis.install(sender, **attrs.asdict(cfg))
    got: list[Event] = []
    receiver.subscribe_event("**", got.append)
    reader = consumer(receiver, cfg, "svc")
    await reader.ensure_groups()
    samples = [
        *core_samples(),
        InvoicePaid("inv-1", 12.5, ["a", "b"], {"k": {"n": 1}}, datetime.now(UTC), None, 3),
    ]
    core = {
        cls
        for cls in llmgine_redis.registered().values()
        if issubclass(cls, Event) and cls.__module__.startswith("llmgine.messages")
    }
    assert core
    assert {type(e) for e in samples} >= core | {InvoicePaid}
    for event in samples[:5]:
        sender.emit(event)  # the sync path
    for event in samples[5:]:
        await sender.emit_async(event)  # the async path
    await pump([reader], lambda: len(got) == len(samples))
    assert [snapshot(e) for e in got] == [snapshot(e) for e in samples]
    llmgine_redis.disable(sender)


async def test_two_groups_each_see_all_and_two_workers_split_a_group(config, pump, raw):
    cfg = config(batch=7)
    sender = MessageBus.isolated()
    llmgine_redis.install(sender, **attrs.asdict(cfg))
    seen: dict[str, list[str]] = {"a1": [], "a2": [], "b": []}
    readers = []
    for name, group in (("a1", "A"), ("a2", "A"), ("b", "B")):
        bus = MessageBus.isolated()
        bus.subscribe_event("resource.*", lambda e, n=name: seen[n].append(e.resource_id))
        readers.append(consumer(bus, cfg, group, name))
        await readers[-1].ensure_groups()
    for i in range(100):
        sender.emit(core_events.ResourceDeletedEvent(resource_id=f"r{i}", resource_type="t"))
    await pump(readers, lambda: len(seen["a1"]) + len(seen["a2"]) == 100 and len(seen["b"]) == 100)
    assert sorted(seen["b"]) == sorted(f"r{i}" for i in range(100))
    assert sorted(seen["a1"] + seen["a2"]) == sorted(seen["b"])  # no event twice in group A
    assert seen["a1"]
    assert seen["a2"]
    assert raw.xpending(cfg.event_stream, "A")["pending"] == 0
    llmgine_redis.disable(sender)


async def test_received_events_are_not_sent_back_but_follow_ups_are(config, pump, raw):
    cfg = config()
    bus = MessageBus.isolated()
    llmgine_redis.install(bus, **attrs.asdict(cfg))

    reemitted: list[Event] = []

    def react(event: core_events.ResourceCreatedEvent) -> None:
        if reemitted:
            return
        reemitted.append(event)
        bus.add_pending_event(core_events.ResourceDeletedEvent(resource_id="x", resource_type="t"))
        bus.emit(event)  # a careless re-emit of the received object

    bus.subscribe_event("resource.created", react)
    reader = consumer(bus, cfg, "svc")
    await reader.ensure_groups()
    raw.xadd(cfg.event_stream, {"m": wire(core_events.ResourceCreatedEvent, "r", "t")})
    await pump([reader], lambda: reader.processed >= 2)
    assert reemitted
    types = [json.loads(f[b"m"])["type"] for _, f in raw.xrange(cfg.event_stream)]
    assert types == ["llmgine.ResourceCreatedEvent", "llmgine.ResourceDeletedEvent"]
    llmgine_redis.disable(bus)


def wire(cls: type, resource_id: str, resource_type: str, **extra: Any) -> str:
    return json.dumps(
        {
            "v": 1,
            "kind": "event",
            "type": f"llmgine.{cls.__name__}",
            "id": f"evt-{resource_id}",
            "ts": "2026-01-01T00:00:00+00:00",
            "fields": {"resource_id": resource_id, "resource_type": resource_type, **extra},
        }
    )


async def test_unknown_fields_are_ignored_and_missing_optional_ones_defaulted(config, pump, raw):
    cfg = config()
    bus = MessageBus.isolated()
    got: list[Any] = []
    bus.subscribe_event("resource.created", got.append)
    reader = consumer(bus, cfg, "svc")
    await reader.ensure_groups()
    raw.xadd(cfg.event_stream, {"m": wire(core_events.ResourceCreatedEvent, "r", "t", new=1)})
    await pump([reader], lambda: len(got) == 1)
    assert got[0].resource_data == {}
    assert got[0].event_id == "evt-r"
    assert got[0].timestamp == datetime(2026, 1, 1, tzinfo=UTC)


async def test_only_failed_subscribers_are_retried_then_dead_lettered(config, pump, raw):
    cfg = config(max_attempts=3)
    bus = MessageBus.isolated()
    calls = {"good": 0, "flaky": 0, "broken": 0}

    def good(event: Event) -> None:
        calls["good"] += 1

    def flaky(event: Event) -> None:
        calls["flaky"] += 1
        if calls["flaky"] < 2:
            raise RuntimeError("flaky once")

    def broken(event: Event) -> None:
        calls["broken"] += 1
        raise ValueError("always broken")

    reader = consumer(bus, cfg, "svc")
    await reader.ensure_groups()
    subs = [bus.subscribe_event("resource.deleted", f) for f in (good, flaky)]
    raw.xadd(cfg.event_stream, {"m": wire(core_events.ResourceDeletedEvent, "a", "t")})
    await pump([reader], lambda: reader.processed == 1)
    assert calls == {"good": 1, "flaky": 2, "broken": 0}
    for sub in subs:
        sub.unsubscribe()
    bus.subscribe_event("resource.deleted", good)
    bus.subscribe_event("resource.deleted", broken)
    raw.xadd(cfg.event_stream, {"m": wire(core_events.ResourceDeletedEvent, "b", "t")})
    dead = f"{cfg.event_stream}:dead"
    await pump([reader], lambda: raw.xlen(dead) == 1)
    assert calls["good"] == 2
    assert calls["broken"] == 3
    ((_, record),) = raw.xrange(dead)
    assert record[b"reason"] == b"subscribers-failed"
    assert b"ValueError: always broken" in record[b"error"]
    assert json.loads(record[b"subscribers"])[0].endswith("broken")
    assert record[b"attempts"] == b"3"
    assert raw.xpending(cfg.event_stream, "svc")["pending"] == 0


async def test_redelivered_event_ids_are_skipped_within_the_window(config, pump, raw):
    cfg = config()
    got: list[Event] = []
    first, second = MessageBus.isolated(), MessageBus.isolated()
    for bus in (first, second):
        bus.subscribe_event("resource.deleted", got.append)
    a, b = consumer(first, cfg, "svc", "a"), consumer(second, cfg, "svc", "b")
    await a.ensure_groups()
    entry = {"m": wire(core_events.ResourceDeletedEvent, "same", "t")}
    raw.xadd(cfg.event_stream, entry)
    await pump([a], lambda: len(got) == 1)
    raw.xadd(cfg.event_stream, entry)  # e.g. a producer retry after a lost reply
    raw.xadd(cfg.event_stream, entry)
    await pump([b], lambda: b.duplicates == 2)  # another worker: the group's set knows it
    assert len(got) == 1


async def test_hostile_entries_are_dead_lettered_and_the_consumer_goes_on(config, pump, raw):
    cfg = config(max_entry_bytes=10_000)
    bus = MessageBus.isolated()
    got: list[Event] = []
    bus.subscribe_event("**", got.append)
    reader = consumer(bus, cfg, "svc")
    await reader.ensure_groups()
    good = json.loads(wire(core_events.ResourceDeletedEvent, "ok", "t"))
    hostile = {
        "malformed": [{"m": b"{not json"}, {"other": b"x"}, {"m": b"[1,2]"}],
        "unknown-type": [
            {"m": json.dumps({**good, "type": "os.system"})},
            {"m": json.dumps({**good, "type": "builtins.eval", "kind": "event"})},
        ],
        "oversized": [{"m": json.dumps({**good, "pad": "x" * 20_000})}],
        "invalid-fields": [
            {"m": json.dumps({**good, "fields": {"resource_id": 5, "resource_type": "t"}})},
            {"m": json.dumps({**good, "fields": {"resource_type": "t"}})},
            {"m": json.dumps({**good, "ts": "yesterday"})},
            {"m": json.dumps({**good, "fields": "nope"})},
        ],
        "unsupported-version": [{"m": json.dumps({**good, "v": 99})}],
    }
    for entries in hostile.values():
        for entry in entries:
            raw.xadd(cfg.event_stream, entry)
    raw.xadd(cfg.event_stream, {"m": json.dumps(good)})
    await pump([reader], lambda: len(got) == 1)
    reasons = [r[b"reason"].decode() for _, r in raw.xrange(f"{cfg.event_stream}:dead")]
    assert reasons == [reason for reason, entries in hostile.items() for _ in entries]
    assert raw.xpending(cfg.event_stream, "svc")["pending"] == 0


async def test_hostile_entry_pushed_with_redis_cli_is_dead_lettered(config, pump, raw, redis_url):
    import shutil
    import subprocess

    cli = shutil.which("redis-cli")
    if cli is None:
        pytest.skip("redis-cli is not installed")
    cfg = config()
    reader = consumer(MessageBus.isolated(), cfg, "svc")
    await reader.ensure_groups()
    subprocess.run(
        [cli, "-u", redis_url, "XADD", cfg.event_stream, "*", "m", '{"v":1,"kind":"event"}'],
        check=True,
        capture_output=True,
    )
    dead = f"{cfg.event_stream}:dead"
    await pump([reader], lambda: raw.xlen(dead) == 1)
    ((_, record),) = raw.xrange(dead)
    assert record[b"reason"] == b"unknown-type"
    assert record[b"orig.m"] == b'{"v":1,"kind":"event"}'


async def test_unregistered_event_matching_patterns_fails_the_emit(config):
    @dataclasses.dataclass
    class Secret(Event):
        value: str

    bus = MessageBus.isolated()
    cfg = config(patterns=("**",))
    llmgine_redis.install(bus, **attrs.asdict(cfg))
    with pytest.raises(TransportError, match=r"Secret.* has no wire name; .*register_messages"):
        bus.emit(Secret("x"))
    llmgine_redis.disable(bus)
    bus.emit(Secret("x"))  # no transport: stays local


def test_outage_fails_the_dispatch_with_a_clear_error():
    class Go(Command[None]):
        pass

    bus = MessageBus.isolated()
    seen: list[Event] = []
    bus.subscribe_event("**", seen.append)
    bus.register_command(
        Go,
        lambda c: bus.add_pending_event(
            core_events.ResourceDeletedEvent(resource_id="r", resource_type="t")
        ),
    )
    llmgine_redis.install(bus, url="redis://:secret@127.0.0.1:1/0", retries=0)
    with pytest.raises(llmgine_redis.TransportError, match=r"127\.0\.0\.1:1") as info:
        bus.dispatch(Go())
    assert "secret" not in str(info.value)
    with pytest.raises(llmgine_redis.TransportError):
        asyncio.run(bus.dispatch_async(Go()))
    assert seen == []
    llmgine_redis.disable(bus)


async def test_patterns_choose_what_goes_out_and_min_age_trims_by_id(config, raw):
    cfg = config(patterns=("resource.deleted", "workflow.**"), min_age=3600.0)
    bus = MessageBus.isolated()
    transport = llmgine_redis.install(bus, **attrs.asdict(cfg))
    bus.emit(core_events.ResourceDeletedEvent(resource_id="out", resource_type="t"))
    bus.emit(core_events.ResourceCreatedEvent(resource_id="local", resource_type="t"))
    await bus.emit_async(core_events.WorkflowStartedEvent(workflow_name="w", run_id="r"))
    types = [json.loads(f[b"m"])["type"] for _, f in raw.xrange(cfg.event_stream)]
    assert types == ["llmgine.ResourceDeletedEvent", "llmgine.WorkflowStartedEvent"]
    assert b"XADD\r\n$%d\r\n%s\r\n$5\r\nMINID\r\n$1\r\n~\r\n" % (
        len(cfg.event_stream),
        cfg.event_stream.encode(),
    ) in xadd_batch(transport.outbox.stream, transport.config.trim()).pack([b"{}"])


async def test_an_entry_that_keeps_killing_consumers_is_dead_lettered(config, pump, raw):
    cfg = config(claim_idle_ms=1, max_deliveries=3)
    got: list[Event] = []
    bus = MessageBus.isolated()
    bus.subscribe_event("**", got.append)
    reader = consumer(bus, cfg, "svc")
    await reader.ensure_groups()
    raw.xadd(cfg.event_stream, {"m": wire(core_events.ResourceDeletedEvent, "poison", "t")})
    raw.xadd(cfg.event_stream, {"m": wire(core_events.ResourceDeletedEvent, "fine", "t")})
    # Three consumers each read the first entry and died before acknowledging it.
    raw.xreadgroup("svc", "dead-1", {cfg.event_stream: ">"}, count=1)
    for name in ("dead-2", "dead-3"):
        raw.xautoclaim(cfg.event_stream, "svc", name, min_idle_time=0, count=1)
    dead = f"{cfg.event_stream}:dead"
    await pump([reader], lambda: raw.xlen(dead) == 1 and len(got) == 1)
    ((_, record),) = raw.xrange(dead)
    assert record[b"reason"] == b"too-many-deliveries"
    assert [e.resource_id for e in got] == ["fine"]  # type: ignore[attr-defined]
    assert raw.xpending(cfg.event_stream, "svc")["pending"] == 0
