"""Consumers under faults: Redis out of memory or restarted empty, poison messages that kill
workers, slow consumers, failed flushes, skewed clocks and SIGTERM mid-batch.

Every fault that stops, fills or restarts Redis runs against a throwaway ``redis-server``
(the ``redis_server`` fixture), never the shared one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs
import llmgine_redis
import pytest
import redis
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import ResourceDeletedEvent
from llmgine_redis import EventConsumer, RedisConfig
from llmgine_redis._claims import Holdings
from llmgine_redis._commands import CommandServer

pytestmark = pytest.mark.redis


@dataclasses.dataclass
class Echo(Command[str]):
    text: str = ""


WIRE_NAMES = {Echo: "test.faults.Echo"}
REMOTE_TYPES = [Echo]

OUTAGE = "retrying with backoff"


def fill(client: redis.Redis) -> None:
    """Fill a server started with ``maxmemory`` until it refuses writes (OOM), with a margin:
    just over the limit, freed buffers would let some writes through."""
    for i in range(10_000):
        try:
            client.set(f"filler:{i}", b"x" * 65_536)
        except redis.OutOfMemoryError:
            used = int(client.info("memory")["used_memory"])
            client.config_set("maxmemory", used - 512 * 1024)
            return
    raise AssertionError("the server never ran out of memory; was it started with maxmemory?")


def publish(cfg: RedisConfig, *resource_ids: str) -> None:
    sender = MessageBus.isolated()
    llmgine_redis.install(sender, **attrs.asdict(cfg))
    for resource_id in resource_ids:
        sender.emit(ResourceDeletedEvent(resource_id=resource_id, resource_type="t"))
    llmgine_redis.disable(sender)


async def wait_until(condition: Callable[[], bool], what: str, task: Any = None) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        if task is not None and task.done():
            raise AssertionError(f"the reader stopped: {task.exception()!r}")
        await asyncio.sleep(0.02)


def outage_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


@pytest.mark.slow
async def test_out_of_memory_acknowledges_nothing_until_its_dead_letters_are_stored(
    redis_server, prefix, caplog
):
    server = redis_server(persist=False, maxmemory="2mb")
    cfg = RedisConfig(
        url=server.url,
        prefix=prefix,
        block_ms=50,
        batch=100,
        retry_backoff=0.01,
        max_attempts=2,
        # No heartbeat: its write, refused, would stop the reader before the first
        # batch; here the refused write is the flush of a batch read under OOM.
        consumer_idle_ms=None,
    )
    stream, admin = cfg.event_stream, server.client()
    handled: list[str] = []

    def subscriber(event: Any) -> None:
        if event.resource_id.startswith("bad"):
            raise RuntimeError("keeps failing")
        handled.append(event.resource_id)

    bus = MessageBus.isolated()
    bus.subscribe_event("resource.deleted", subscriber)
    consumer = EventConsumer(bus, cfg, "svc", consumer="c1")
    await consumer.ensure_groups()
    # The first batch of 100 mixes the three kinds; 250 more wait behind it.
    poison = [admin.xadd(stream, {"m": f"poison {i}"}) for i in range(60)]
    publish(cfg, *[f"bad{i}" for i in range(30)], *[f"ok{i}" for i in range(10)])
    poison += [admin.xadd(stream, {"m": f"poison {i}"}) for i in range(60, 200)]
    publish(cfg, *[f"bad{i}" for i in range(30, 100)], *[f"ok{i}" for i in range(10, 50)])
    fill(admin)
    with caplog.at_level(logging.INFO, logger="llmgine.redis"):
        running = asyncio.create_task(consumer.run())
        await wait_until(lambda: len(handled) == 10 or running.done(), "the first batch")
        await asyncio.sleep(0.5)  # retries end in dead letters; writes keep being refused
        assert admin.xpending(stream, "svc")["pending"] == 100  # nothing acknowledged
        assert admin.xlen(f"{stream}:dead") == 0
        assert admin.xinfo_groups(stream)[0]["entries-read"] == 100  # and nothing more read
        assert not running.done()  # riding it out
        assert len(outage_lines(caplog, OUTAGE)) == 1
        admin.config_set("maxmemory", 0)  # memory is back
        await wait_until(
            lambda: (
                admin.xinfo_groups(stream)[0]["entries-read"] == 350
                and admin.xpending(stream, "svc")["pending"] == 0
                and admin.xlen(f"{stream}:dead") == 300
            ),
            "every entry to be dead-lettered or delivered",
            running,
        )
        consumer.stop()
        await running
    dead = admin.xrange(f"{stream}:dead")
    reasons = Counter(record[b"reason"] for _, record in dead)
    assert reasons == {b"malformed": 200, b"subscribers-failed": 100}
    assert {r[b"entry_id"] for _, r in dead if r[b"reason"] == b"malformed"} == set(poison)
    assert sorted(handled) == sorted(f"ok{i}" for i in range(50))  # each once
    assert admin.zcard(consumer.seen_key) == 50
    assert len(outage_lines(caplog, "Redis recovered")) == 1
    admin.close()


@pytest.mark.slow
async def test_a_worker_started_while_redis_is_out_of_memory_waits_then_consumes(
    redis_server, prefix, caplog
):
    server = redis_server(persist=False, maxmemory="2mb")
    cfg = RedisConfig(url=server.url, prefix=prefix, block_ms=50)
    admin = server.client()
    fill(admin)  # XGROUP CREATE ... MKSTREAM is refused
    got: list[str] = []
    bus = MessageBus.isolated()
    bus.subscribe_event("resource.deleted", lambda e: got.append(e.resource_id))
    consumer = EventConsumer(bus, cfg, "svc")
    with caplog.at_level(logging.INFO, logger="llmgine.redis"):
        running = asyncio.create_task(consumer.run())
        await wait_until(lambda: bool(outage_lines(caplog, OUTAGE)), "the outage", running)
        await asyncio.sleep(0.3)
        assert not running.done()
        (line,) = outage_lines(caplog, OUTAGE)
        assert "creating the consumer group failed: OutOfMemoryError" in line
        admin.config_set("maxmemory", 0)
        await wait_until(lambda: bool(admin.exists(cfg.event_stream)), "the group", running)
        publish(cfg, "a", "b")
        await wait_until(lambda: got == ["a", "b"], "the events", running)
        consumer.stop()
        await running
    assert len(outage_lines(caplog, "Redis recovered")) == 1
    admin.close()


def restart_empty(server: Any) -> None:
    """Kill the server and start it again with nothing (persist=False): in one blocking call,
    so that a reader in the caller's event loop meets the restart only afterwards."""
    server.kill()
    server.start()


@pytest.mark.slow
async def test_events_appended_after_redis_restarts_empty_are_all_delivered(redis_server, prefix):
    server = redis_server(persist=False)
    cfg = RedisConfig(url=server.url, prefix=prefix, block_ms=50)
    got: list[str] = []
    bus = MessageBus.isolated()
    bus.subscribe_event("resource.deleted", lambda e: got.append(e.resource_id))
    consumer = EventConsumer(bus, cfg, "svc")
    running = asyncio.create_task(consumer.run())
    await wait_until(lambda: bool(server.client().exists(cfg.event_stream)), "the group")
    publish(cfg, "before")
    await wait_until(lambda: got == ["before"], "the first event", running)
    # The 1,000 events are appended before the consumer can notice the restart: it
    # then finds the stream without its group (NOGROUP).
    restart_empty(server)
    after = [f"after{i}" for i in range(1000)]
    publish(cfg, *after)
    await wait_until(lambda: len(got) == 1001, "the events sent after the restart", running)
    consumer.stop()
    await running
    assert got == ["before", *after]


@pytest.mark.slow
async def test_commands_sent_after_redis_restarts_empty_are_served(redis_server, prefix):
    from llmgine_redis._wire import encode, spec_of

    server = redis_server(persist=False)
    cfg = RedisConfig(url=server.url, prefix=prefix, block_ms=50)
    worker = MessageBus.isolated()
    worker.register_command(Echo, lambda c: c.text.upper())
    transport = llmgine_redis.install(worker, worker=True, **attrs.asdict(cfg))
    command_server = transport.command_server()
    assert isinstance(command_server, CommandServer)
    running = asyncio.create_task(command_server.run())
    stream = cfg.command_stream("test.faults.Echo")
    await wait_until(lambda: bool(server.client().exists(stream)), "the group", running)
    restart_empty(server)
    spec = spec_of(Echo)
    assert spec is not None
    commands = [Echo(text=f"c{i}") for i in range(20)]
    with server.client() as admin:
        for command in commands:
            reply_to = cfg.reply_key(command.command_id)
            admin.xadd(stream, {"m": encode(command, spec, None, reply_to=reply_to)})

        def replies() -> list[Any]:
            return [admin.lindex(cfg.reply_key(c.command_id), 0) for c in commands]

        await wait_until(lambda: all(replies()), "every reply", running)
        assert [json.loads(r)["result"] for r in replies()] == [f"C{i}" for i in range(20)]
    command_server.stop()
    await running


POISON_WORKER = textwrap.dedent(
    """
    import asyncio, os, sys
    import redis
    from llmgine.messages.bus import MessageBus
    from llmgine_redis import EventConsumer, RedisConfig

    url, prefix, name = sys.argv[1:4]
    r = redis.Redis.from_url(url)
    bus = MessageBus.isolated()

    def subscriber(event):
        r.hincrby(prefix + ":runs", event.resource_id, 1)
        if event.resource_id == "r057":
            os._exit(3)  # the poison: kills whoever handles it

    bus.subscribe_event("resource.deleted", subscriber)
    config = RedisConfig(
        url=url, prefix=prefix, claim_idle_ms=300, block_ms=50, max_deliveries=3
    )
    asyncio.run(EventConsumer(bus, config, "svc", consumer=name).run("0"))
    """
)


@pytest.mark.slow
def test_an_event_that_kills_its_workers_dead_letters_only_itself(raw, redis_url, prefix, tmp_path):
    cfg = RedisConfig(url=redis_url, prefix=prefix, max_deliveries=3)
    script = tmp_path / "worker.py"
    script.write_text(POISON_WORKER)
    ids = [f"r{i:03d}" for i in range(200)]
    publish(cfg, *ids)  # all before the first worker, which reads them in one batch
    stream, dead = cfg.event_stream, f"{cfg.event_stream}:dead"
    deaths, worker = 0, None
    try:
        deadline = time.monotonic() + 40
        while not (
            raw.xlen(dead) == 1
            and raw.hlen(f"{prefix}:runs") == 200
            and raw.xpending(stream, "svc")["pending"] == 0
        ):
            assert time.monotonic() < deadline, f"timed out after {deaths} worker deaths"
            assert raw.xlen(dead) <= 1, f"{raw.xlen(dead)} dead letters after {deaths} deaths"
            if worker is None or worker.poll() is not None:
                if worker is not None:
                    assert worker.returncode == 3
                    deaths += 1
                worker = subprocess.Popen(
                    [sys.executable, str(script), redis_url, prefix, f"w{deaths}"]
                )
            time.sleep(0.05)
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(10)
    runs = {k.decode(): int(v) for k, v in raw.hgetall(f"{prefix}:runs").items()}
    ((_, record),) = raw.xrange(dead)
    assert record[b"reason"] == b"too-many-deliveries"
    assert json.loads(record[b"orig.m"])["fields"]["resource_id"] == "r057"
    assert deaths == 3  # max_deliveries
    assert runs["r057"] == 3
    # Those before the poison: once by the first worker (killed before its acks were
    # written), once more on the first reclaim, which acknowledges entry by entry.
    assert {runs[i] for i in ids[:57]} == {2}
    assert {runs[i] for i in ids[58:]} == {1}  # delivered once the poison was set aside


def test_slow_but_healthy_consumers_never_run_an_event_twice(config, raw):
    cfg = config(claim_idle_ms=500, block_ms=50)
    runs: Counter[str] = Counter()
    lock = threading.Lock()

    def slow(event: Any) -> None:
        time.sleep(0.15)
        with lock:
            runs[event.resource_id] += 1

    ids = [f"e{i}" for i in range(12)]
    readers: list[tuple[EventConsumer, asyncio.AbstractEventLoop]] = []
    ready = threading.Barrier(3)

    def consume(name: str) -> None:
        bus = MessageBus.isolated()
        bus.subscribe_event("resource.deleted", slow)
        reader = EventConsumer(bus, cfg, "svc", consumer=name)

        async def main() -> None:
            readers.append((reader, asyncio.get_running_loop()))
            await reader.ensure_groups()
            ready.wait()
            await reader.run()

        asyncio.run(main())

    threads = [threading.Thread(target=consume, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    ready.wait()
    publish(cfg, *ids)  # one of them reads all 12: 1.8 s of work, over three claim_idle_ms
    try:
        deadline = time.monotonic() + 20
        while len(runs) < 12 or raw.xpending(cfg.event_stream, "svc")["pending"]:
            assert time.monotonic() < deadline, f"timed out: {runs}"
            time.sleep(0.05)
    finally:
        for reader, loop in readers:
            loop.call_soon_threadsafe(reader.stop)
        for thread in threads:
            thread.join(10)
    assert runs == dict.fromkeys(ids, 1)


@pytest.mark.slow
async def test_a_flush_that_fails_keeps_its_dedup_records_until_written(redis_server, prefix):
    server = redis_server(persist=False, maxmemory="2mb")
    cfg = RedisConfig(url=server.url, prefix=prefix, block_ms=50)
    first, second = MessageBus.isolated(), MessageBus.isolated()
    got: list[str] = []
    first.subscribe_event("resource.deleted", lambda e: got.append(e.resource_id))
    second.subscribe_event("resource.deleted", lambda e: got.append("again " + e.resource_id))
    a = EventConsumer(first, cfg, "svc", consumer="a")
    b = EventConsumer(second, cfg, "svc", consumer="b")
    await a.ensure_groups()
    publish(cfg, *[f"r{i}" for i in range(50)])
    admin = server.client()
    entries = admin.xrange(cfg.event_stream)
    try:
        assert await a.poll() == 50
        fill(admin)
        with pytest.raises(redis.OutOfMemoryError):
            await a.flush()  # refused: the acks and the dedup records are kept
        admin.config_set("maxmemory", 0)
        await a.flush()
        assert admin.zcard(a.seen_key) == 50
        for _, fields in entries:  # e.g. a producer's retry appended them again
            admin.xadd(cfg.event_stream, fields)
        await b.ensure_groups()
        deadline = time.monotonic() + 20
        while b.duplicates < 50:
            assert time.monotonic() < deadline, f"{b.duplicates} duplicates skipped"
            await b.poll()
        assert len(got) == 50  # none delivered again
    finally:
        await a.drain()
        await b.drain()
        admin.close()


async def test_a_consumer_whose_clock_is_ahead_does_not_trim_the_others_dedup_records(
    config, pump, raw, monkeypatch
):
    cfg = config()
    got: list[str] = []
    buses = [MessageBus.isolated() for _ in range(3)]
    for bus in buses:
        bus.subscribe_event("resource.deleted", lambda e: got.append(e.resource_id))
    a, b, c = (
        EventConsumer(bus, cfg, "svc", consumer=n) for bus, n in zip(buses, "abc", strict=True)
    )
    await a.ensure_groups()
    publish(cfg, *[f"r{i}" for i in range(50)])
    await pump([a], lambda: a.processed == 50)
    entries = raw.xrange(cfg.event_stream)
    publish(cfg, "late")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 700)  # b's host clock is 700 s ahead
    await pump([b], lambda: b.processed == 1)
    monkeypatch.setattr(time, "time", real)
    assert raw.zcard(a.seen_key) == 51
    for _, fields in entries:
        raw.xadd(cfg.event_stream, fields)
    await pump([c], lambda: c.duplicates == 50)
    assert len(got) == 51


SIGTERM_WORKER = textwrap.dedent(
    """
    import asyncio, sys, time
    import redis
    import llmgine_redis
    from llmgine.messages.bus import MessageBus

    url, prefix = sys.argv[1:3]
    r = redis.Redis.from_url(url)
    bus = MessageBus.isolated()

    def subscriber(event):
        fails = r.hincrby(prefix + ":fails", event.resource_id, 1)
        if event.resource_id.endswith("7") and fails == 1:
            raise RuntimeError("fails once")  # retried by a task: in flight at SIGTERM
        time.sleep(0.005)
        r.sadd(prefix + ":handled", event.resource_id)

    bus.subscribe_event("resource.deleted", subscriber)
    transport = llmgine_redis.install(
        bus, worker=True, url=url, prefix=prefix, block_ms=50, batch=100, retry_backoff=0.3
    )
    asyncio.run(transport.run_worker("svc", start_id="0"))
    """
)


@pytest.mark.slow
def test_sigterm_mid_batch_leaves_every_read_entry_acknowledged_or_pending(raw, redis_url, prefix):
    cfg = RedisConfig(url=redis_url, prefix=prefix)
    ids = [f"r{i:03d}" for i in range(300)]
    publish(cfg, *ids)
    stream = cfg.event_stream
    by_entry = {i: json.loads(f[b"m"])["fields"]["resource_id"] for i, f in raw.xrange(stream)}
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_WORKER, redis_url, prefix])
    try:
        deadline = time.monotonic() + 20
        while raw.scard(f"{prefix}:handled") < 30:
            assert proc.poll() is None, "the worker died"
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    handled = {m.decode() for m in raw.smembers(f"{prefix}:handled")}
    read = int(raw.xinfo_groups(stream)[0]["entries-read"])
    assert 30 <= read < 300  # stopped mid-way: it read no more after SIGTERM
    pending = {p["message_id"] for p in raw.xpending_range(stream, "svc", "-", "+", 1000)}
    entries = list(by_entry)
    acked = {by_entry[i] for i in entries[:read] if i not in pending}
    assert acked == handled  # every acknowledged one was handled, and the other way round
    assert not raw.exists(f"{stream}:dead")


async def test_a_reader_started_against_an_unreachable_url_fails_at_once_naming_it(caplog):
    from faultkit import free_port

    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    consumer = EventConsumer(MessageBus.isolated(), RedisConfig(url=url, retries=0), "svc")
    with pytest.raises(llmgine_redis.TransportError) as info:
        await asyncio.wait_for(consumer.run(), 10)
    message = str(info.value)
    assert "creating the consumer group failed: Redis at redis://:***@127.0.0.1:" in message
    assert "s3cret" not in message
    assert "check that Redis is running" in message


async def test_the_keeper_task_ends_on_drain_even_when_its_cancellation_is_lost():
    # On Python 3.11 redis-py's asyncio.wait_for (around each command once sockets have a
    # timeout) can swallow a cancellation; a keeper that ended only on cancellation then
    # kept the reader's drain, and a stopping worker, waiting for ever.
    held = Holdings("g", "c", claim_idle_ms=200, page=10)  # keeps every 50 ms

    async def keep_held() -> int:
        with contextlib.suppress(asyncio.CancelledError):  # lost, as that wait_for may
            await asyncio.sleep(0.5)
        return 0

    keeper = asyncio.ensure_future(held.keeper(keep_held))
    await asyncio.sleep(0.2)  # inside keep_held now
    held.stop()
    keeper.cancel()
    done, _ = await asyncio.wait({keeper}, timeout=3)
    assert done, "the keeper went on after stop()"
