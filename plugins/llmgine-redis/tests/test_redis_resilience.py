"""Crashes and outages: a worker killed mid-batch, Redis killed and restarted while publishing."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import attrs
import llmgine_redis
import pytest
import redis
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import ResourceDeletedEvent

pytestmark = [pytest.mark.slow, pytest.mark.redis]

TOTAL = 10_000

WORKER = textwrap.dedent(
    """
    import asyncio, sys, time
    import redis
    from llmgine.messages.bus import MessageBus
    from llmgine_redis import EventConsumer, RedisConfig

    url, prefix, name = sys.argv[1:4]
    r = redis.Redis.from_url(url)
    bus = MessageBus.isolated()

    def idempotent(event):
        handled = r.incr(prefix + ":handled")
        r.sadd(prefix + ":observed", event.event_id)  # a second SADD changes nothing
        if name == "first" and handled == 3000:  # hang mid-batch, to be killed there
            r.set(prefix + ":stuck", 1)
            time.sleep(60)

    bus.subscribe_event("resource.deleted", idempotent)
    config = RedisConfig(url=url, prefix=prefix, claim_idle_ms=300, block_ms=50, batch=500)
    asyncio.run(EventConsumer(bus, config, "crash", consumer=name).run())
    """
)


class Burst(Command[None]):
    """Queues 100 events: one pipeline per dispatch."""

    def __init__(self, start: int) -> None:
        self.start = start


def burst_handler(bus: MessageBus):
    def handle(command: Burst) -> None:
        for i in range(command.start, command.start + 100):
            bus.add_pending_event(ResourceDeletedEvent(resource_id=f"r{i}", resource_type="t"))

    return handle


def start_worker(script: Path, url: str, prefix: str, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(script), url, prefix, name])


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def test_worker_killed_mid_batch_loses_nothing(config, raw, redis_url, prefix, tmp_path):
    cfg = config()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    consumer = llmgine_redis.EventConsumer(MessageBus.isolated(), cfg, "crash")

    async def create_group() -> None:
        await consumer.ensure_groups()
        await consumer.drain()

    asyncio.run(create_group())
    bus = MessageBus.isolated()
    bus.register_command(Burst, burst_handler(bus))
    llmgine_redis.install(bus, **attrs.asdict(cfg))
    for start in range(0, TOTAL, 100):
        bus.dispatch(Burst(start))
    llmgine_redis.disable(bus)
    observed = f"{prefix}:observed"
    first = start_worker(script, redis_url, prefix, "first")
    second = None
    try:
        wait_for(lambda: raw.exists(f"{prefix}:stuck"), 20, "the first worker to be mid-batch")
        first.send_signal(signal.SIGKILL)
        first.wait()
        pending_at_crash = raw.xpending(cfg.event_stream, "crash")["pending"]
        second = start_worker(script, redis_url, prefix, "second")
        wait_for(
            lambda: (
                raw.scard(observed) >= TOTAL
                and raw.xpending(cfg.event_stream, "crash")["pending"] == 0
            ),
            25,
            "the second worker to finish",
        )
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(10)
    handled = int(raw.get(f"{prefix}:handled") or 0)
    ids = {m.decode() for m in raw.smembers(observed)}
    lost = TOTAL - len(ids)
    print(f"lost={lost} handled={handled} observed={len(ids)} pending_at_crash={pending_at_crash}")
    assert lost == 0
    assert pending_at_crash > 0  # the kill did leave work in flight
    assert handled >= TOTAL


def test_redis_killed_and_restarted_while_publishing_loses_no_acknowledged_event(
    throwaway_redis, prefix
):
    bus = MessageBus.isolated()
    bus.register_command(Burst, burst_handler(bus))
    transport = llmgine_redis.install(bus, url=throwaway_redis.url, prefix=prefix, retries=1)
    acknowledged: set[str] = set()
    failures: list[str] = []
    restarted = threading.Event()

    def outage() -> None:
        time.sleep(0.3)
        throwaway_redis.kill()  # SIGKILL: no goodbye
        time.sleep(0.7)
        throwaway_redis.start()
        restarted.set()

    killer = threading.Thread(target=outage)
    killer.start()
    start, after_restart = 0, 0
    deadline = time.monotonic() + 30
    while after_restart < 20 and time.monotonic() < deadline:
        try:
            bus.dispatch(Burst(start))
        except llmgine_redis.TransportError as exc:
            failures.append(str(exc))
            time.sleep(0.02)
        else:
            acknowledged.update(f"r{i}" for i in range(start, start + 100))
            after_restart += restarted.is_set()
        start += 100
    killer.join()
    transport.close()
    client = redis.Redis.from_url(throwaway_redis.url)
    stored = set()
    for _, fields in client.xrange(transport.config.event_stream):
        stored.add(json.loads(fields[b"m"])["fields"]["resource_id"])
    client.close()
    print(
        f"acknowledged={len(acknowledged)} failed_dispatches={len(failures)} stored={len(stored)}"
    )
    assert failures, "the outage should have failed some dispatches"
    assert "Check that Redis is running" in failures[0]
    assert acknowledged <= stored


@pytest.mark.parametrize("tls", [False, True], ids=["redis", "rediss"])
async def test_urls_with_password_and_tls_work_and_the_password_is_never_shown(
    redis_server, pump, tls
):
    if tls and shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make a test certificate)")
    server = redis_server(password="s3cret-pw", tls=tls)
    sender, receiver = MessageBus.isolated(), MessageBus.isolated()
    got: list[object] = []
    receiver.subscribe_event("resource.deleted", got.append)
    reader = llmgine_redis.EventConsumer(
        receiver, llmgine_redis.RedisConfig(url=server.url, block_ms=50), "svc"
    )
    await reader.ensure_groups()
    llmgine_redis.install(sender, url=server.url)
    await sender.emit_async(ResourceDeletedEvent(resource_id="r", resource_type="t"))
    await pump([reader], lambda: len(got) == 1)
    wrong = MessageBus.isolated()
    llmgine_redis.install(wrong, url=server.url.replace("s3cret-pw", "nope"), retries=0)
    with pytest.raises(llmgine_redis.TransportError) as info:
        wrong.emit(ResourceDeletedEvent(resource_id="r", resource_type="t"))
    assert "s3cret" not in str(info.value)
    assert "nope" not in str(info.value)
    assert "***" in str(info.value)


async def test_a_running_consumer_rides_out_a_redis_restart(throwaway_redis, prefix):
    cfg = llmgine_redis.RedisConfig(url=throwaway_redis.url, prefix=prefix, block_ms=50)
    receiver = MessageBus.isolated()
    got: list[str] = []
    receiver.subscribe_event("resource.deleted", lambda e: got.append(e.resource_id))
    consumer = llmgine_redis.EventConsumer(receiver, cfg, "svc")
    await consumer.ensure_groups()
    running = asyncio.create_task(consumer.run())
    sender = MessageBus.isolated()
    llmgine_redis.install(sender, **attrs.asdict(cfg))

    async def wait_until(condition, what: str) -> None:
        deadline = time.monotonic() + 20
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            assert not running.done(), running
            await asyncio.sleep(0.02)

    await sender.emit_async(ResourceDeletedEvent(resource_id="before", resource_type="t"))
    await wait_until(lambda: got == ["before"], "the first event")
    throwaway_redis.kill()
    await asyncio.sleep(0.3)  # the consumer meets the outage and backs off
    throwaway_redis.start()
    await sender.emit_async(ResourceDeletedEvent(resource_id="after", resource_type="t"))
    await wait_until(lambda: got == ["before", "after"], "the event sent after the restart")
    consumer.stop()
    await running
