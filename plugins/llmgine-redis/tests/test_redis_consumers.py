"""Consumers that left a group are removed from it; live ones and pending entries never are."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import attrs
import llmgine_redis
import pytest
import redis
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event, ResourceDeletedEvent
from llmgine_redis import EventConsumer, RedisConfig, _sweep

pytestmark = pytest.mark.redis


@dataclasses.dataclass
class Ping(Command[str]):
    text: str = "ping"


WIRE_NAMES = {Ping: "test.consumers.Ping"}
REMOTE_TYPES = [Ping]


def consumers(raw: redis.Redis, stream: str, group: str) -> dict[str, dict[str, Any]]:
    """The consumers ``XINFO CONSUMERS`` lists, by name."""
    return {c["name"].decode(): c for c in raw.xinfo_consumers(stream, group)}


def departed(raw: redis.Redis, stream: str, group: str, name: str, acked: bool = True) -> None:
    """A consumer ``name`` that read one entry of ``stream`` (acknowledged or not), then died."""
    raw.xreadgroup(group, name, {stream: ">"}, count=1)
    # The entry's id from XPENDING, which redis-py parses alike in RESP2 and RESP3
    # (XREADGROUP's reply is a list of pairs in one and a dict in the other).
    (entry,) = raw.xpending_range(stream, group, "-", "+", 1, name)
    if acked:
        raw.xack(stream, group, entry["message_id"])


def publish(cfg: RedisConfig, *resource_ids: str) -> None:
    sender = MessageBus.isolated()
    llmgine_redis.install(sender, **attrs.asdict(cfg))
    for resource_id in resource_ids:
        sender.emit(ResourceDeletedEvent(resource_id=resource_id, resource_type="t"))
    llmgine_redis.disable(sender)


@pytest.mark.parametrize("kind", ["event consumer", "command server"])
async def test_a_departed_consumer_holding_nothing_is_removed(config, pump, raw, kind):
    cfg = config(consumer_idle_ms=500)
    bus = MessageBus.isolated()
    reader: Any
    if kind == "event consumer":
        reader = EventConsumer(bus, cfg, "svc", consumer="live")
    else:
        bus.register_command(Ping, lambda command: "pong")
        reader = llmgine_redis.install(bus, worker=True, **attrs.asdict(cfg)).command_server("live")
    await reader.ensure_groups()
    stream, group = reader.streams[0], reader.group
    raw.xadd(stream, {"m": b"read and acknowledged by a consumer that then died"})
    departed(raw, stream, group, "gone")
    assert "gone" in consumers(raw, stream, group)
    await pump([reader], lambda: "gone" not in consumers(raw, stream, group))
    assert reader.consumers_removed == 1
    # One that read a moment ago is not gone, heartbeat or not (another client, say).
    raw.xadd(stream, {"m": b"read and acknowledged just now"})
    departed(raw, stream, group, "recent")
    assert await reader.forget_idle_consumers() == []
    assert "recent" in consumers(raw, stream, group)
    # The reader's heartbeat, which keeps others from removing it, is where the README says.
    assert raw.zscore(f"{stream}:consumers:{group}", "live") is not None
    llmgine_redis.disable(bus)


async def test_a_departed_consumer_with_pending_entries_stays_until_they_are_delivered(
    config, pump, raw
):
    # Idle past consumer_idle_ms long before its entry may be reclaimed (claim_idle_ms).
    cfg = config(consumer_idle_ms=200, claim_idle_ms=2_000)
    got: list[Event] = []
    bus = MessageBus.isolated()
    bus.subscribe_event("**", got.append)
    reader = EventConsumer(bus, cfg, "svc", consumer="live")
    await reader.ensure_groups()
    stream = cfg.event_stream
    publish(cfg, "held")
    departed(raw, stream, "svc", "gone", acked=False)
    await pump([reader], lambda: consumers(raw, stream, "svc")["gone"]["idle"] >= 200)
    assert await reader.forget_idle_consumers() == []
    assert consumers(raw, stream, "svc")["gone"]["pending"] == 1
    # Reclaimed and delivered here; then it holds nothing, and goes.
    await pump([reader], lambda: got and "gone" not in consumers(raw, stream, "svc"))
    assert [e.resource_id for e in got] == ["held"]  # type: ignore[attr-defined]
    assert raw.xpending(stream, "svc")["pending"] == 0
    assert not raw.exists(f"{stream}:dead")
    assert reader.consumers_removed == 1


async def test_live_consumers_are_never_removed_even_when_their_stream_is_quiet(config, pump, raw):
    # Before Redis 7.2, XINFO CONSUMERS' idle counts from a consumer's last read that
    # returned entries: on a quiet stream a live consumer looks as idle as a dead one.
    cfg = config(consumer_idle_ms=1_000, batch=1)
    stream = cfg.event_stream
    bus = MessageBus.isolated()
    readers = [EventConsumer(bus, cfg, "svc", consumer=name) for name in ("a", "b")]
    for reader in readers:
        await reader.ensure_groups()
    publish(cfg, "for gone", "for a", "for b")
    departed(raw, stream, "svc", "gone")
    # Each reads one (so that it is a consumer of the group), then the stream is quiet.
    await pump(readers, lambda: len(consumers(raw, stream, "svc")) == 3)
    assert set(consumers(raw, stream, "svc")) == {"a", "b", "gone"}
    quiet_until = time.monotonic() + 3 * cfg.consumer_idle_ms / 1000
    await pump(readers, lambda: time.monotonic() > quiet_until, timeout=30)
    assert set(consumers(raw, stream, "svc")) == {"a", "b"}
    assert sum(reader.consumers_removed for reader in readers) == 1


async def test_a_reader_that_stopped_removing_consumers_still_sends_heartbeats(
    config, pump, raw, monkeypatch, caplog
):
    # A delete that reports pending entries stops removal. The script makes that
    # impossible, so a script that claims it stands in for it here.
    monkeypatch.setattr(_sweep, "_FORGET", "return {'ghost', 300, 2}")
    cfg = config(consumer_idle_ms=200)
    reader = EventConsumer(MessageBus.isolated(), cfg, "svc", consumer="live")
    await reader.ensure_groups()
    beats = f"{cfg.event_stream}:consumers:svc"
    with caplog.at_level("ERROR", logger="llmgine.redis"):
        await pump([reader], lambda: raw.zscore(beats, "live") is not None)
    assert "dropped 2 pending entries" in caplog.text
    assert "removes no more consumers" in caplog.text
    # Others still remove departed consumers: its heartbeats keep telling them it is alive.
    first = raw.zscore(beats, "live")
    await pump([reader], lambda: (raw.zscore(beats, "live") or 0) > first, timeout=5)
    assert reader.consumers_removed == 1  # the (fake) delete did not run again


async def test_no_stream_or_no_group_yet_is_nothing_to_remove_and_no_warning(config, raw, caplog):
    cfg = config(consumer_idle_ms=200)
    reader = EventConsumer(MessageBus.isolated(), cfg, "svc", consumer="live")
    with caplog.at_level("WARNING", logger="llmgine.redis"):
        assert await reader.forget_idle_consumers() == []
        raw.xadd(cfg.event_stream, {"m": b"a stream, no group"})
        assert await reader.forget_idle_consumers() == []
    await reader.drain()
    assert not caplog.records


TOO_SHORT = (
    r"consumer_idle_ms must be at least {} ms \(200 ms and more than twice block_ms, {}: "
    r"a live consumer beats every quarter of consumer_idle_ms but no more often than every "
    r"50 ms, .*\), "
    r"or None never to remove consumers; got {}$"
)
NOT_MS = r"consumer_idle_ms must be a whole number of milliseconds or None \(never remove"


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"consumer_idle_ms": 0}, ValueError, TOO_SHORT.format(1001, 500, 0)),
        ({"consumer_idle_ms": -5}, ValueError, TOO_SHORT.format(1001, 500, -5)),
        ({"consumer_idle_ms": 1000}, ValueError, TOO_SHORT.format(1001, 500, 1000)),
        ({"consumer_idle_ms": 200, "block_ms": 100}, ValueError, TOO_SHORT.format(201, 100, 200)),
        # Heartbeats are at least 50 ms apart: a quarter of 41 ms would not be.
        ({"consumer_idle_ms": 41, "block_ms": 20}, ValueError, TOO_SHORT.format(200, 20, 41)),
        ({"consumer_idle_ms": 199, "block_ms": 1}, ValueError, TOO_SHORT.format(200, 1, 199)),
        ({"block_ms": 150_000}, ValueError, TOO_SHORT.format(300_001, 150_000, 300_000)),
        ({"consumer_idle_ms": "5m"}, TypeError, NOT_MS),
        ({"consumer_idle_ms": 60.0}, TypeError, NOT_MS),
        ({"consumer_idle_ms": True}, TypeError, NOT_MS),
        ({"block_ms": 0}, ValueError, "block_ms must be at least 1 ms; got 0"),
        ({"block_ms": "500"}, TypeError, "block_ms must be a whole number of milliseconds, not"),
    ],
)
def test_bad_consumer_idle_ms_or_block_ms_is_refused_naming_the_setting(settings, error, message):
    with pytest.raises(error, match=rf"RedisConfig\.{message}"):
        RedisConfig(**settings)
    with pytest.raises(error, match=rf"RedisConfig\.{message}"):
        llmgine_redis.install(MessageBus.isolated(), **settings)


def test_consumer_idle_ms_defaults_to_five_minutes_and_none_turns_removal_off():
    assert RedisConfig().consumer_idle_ms == 300_000
    assert RedisConfig(consumer_idle_ms=None).consumer_idle_ms is None
    assert RedisConfig(block_ms=100, consumer_idle_ms=201).consumer_idle_ms == 201
    assert RedisConfig(block_ms=20, consumer_idle_ms=200).consumer_idle_ms == 200
    assert RedisConfig(block_ms=149_999).block_ms == 149_999
    assert RedisConfig(block_ms=150_000, consumer_idle_ms=None).block_ms == 150_000


def restricted_url(server: Any, *denied: str) -> str:
    """The URL of a user of ``server`` allowed every command but ``denied`` (ACL rules)."""
    admin = redis.Redis.from_url(server.url)
    admin.acl_setuser("reader", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all"])
    admin.execute_command("ACL", "SETUSER", "reader", *denied)
    admin.close()
    return str(server.url.replace("redis://", "redis://reader:pw@"))


# EVAL and TIME used to be needed only to remove consumers; reading needs them now
# (reclaiming entry by entry, dedup records in Redis's clock): see the next test.
@pytest.mark.parametrize(("denied", "named"), [(["-xinfo"], "XINFO")])
async def test_where_acls_deny_what_removal_needs_a_warning_says_so_and_reading_goes_on(
    redis_server, pump, prefix, caplog, denied, named
):
    url = restricted_url(redis_server(), *denied)
    cfg = RedisConfig(url=url, prefix=prefix, block_ms=50, consumer_idle_ms=200)
    got: list[Event] = []
    bus = MessageBus.isolated()
    bus.subscribe_event("**", got.append)
    reader = EventConsumer(bus, cfg, "svc", consumer="live")
    await reader.ensure_groups()
    publish(cfg, "delivered")
    with caplog.at_level("WARNING", logger="llmgine.redis"):
        await pump([reader], lambda: len(got) == 1)
    assert [e.resource_id for e in got] == ["delivered"]  # type: ignore[attr-defined]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings
    assert f"could not remove departed consumers on {cfg.event_stream}" in warnings[0]
    assert named in warnings[0]
    assert "consumer_idle_ms=None" in warnings[0]


@pytest.mark.parametrize("denied", [["-eval", "-evalsha"], ["-time"]], ids=["EVAL", "TIME"])
async def test_a_reader_denied_commands_it_needs_stops_with_a_clear_error(
    redis_server, prefix, caplog, denied
):
    cfg = RedisConfig(url=restricted_url(redis_server(), *denied), prefix=prefix, block_ms=50)
    bus = MessageBus.isolated()
    bus.subscribe_event("**", lambda e: None)
    publish(cfg, "x")  # its dedup record needs TIME
    reader = EventConsumer(bus, cfg, "svc")
    with caplog.at_level("ERROR", logger="llmgine.redis"), pytest.raises(redis.ResponseError):
        await asyncio.wait_for(reader.run("0"), 10)  # not retried for ever
    (error,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "run this command" in error or "no permissions" in error
    assert "the user's ACL allows the commands the transport needs" in error


async def test_a_flush_whose_read_fails_does_not_write_its_dead_letters_again(config, prefix, raw):
    # The dead letter, the ack and the read of the next batch share one pipeline: when
    # the read fails (Redis lost the group), the dead letter it did write stays written
    # once, instead of being kept for the next flush and written again.
    from llmgine_redis._reader import GroupReader

    stream = f"{prefix}:lost-group"
    reader = GroupReader(config(), "svc", [stream], consumer="c1")
    try:
        await reader.ensure_groups()
        reader.dead_letter(stream, b"1-0", {b"m": b"{}"}, "invalid-fields", "boom")
        raw.xgroup_destroy(stream, "svc")
        with pytest.raises(redis.ResponseError, match="NOGROUP"):
            await reader.flush(read=True)
        await reader.ensure_groups()  # what a consumer does on NOGROUP
        await reader.flush(read=True)
        assert raw.xlen(f"{stream}:dead") == 1
    finally:
        await reader.drain()
