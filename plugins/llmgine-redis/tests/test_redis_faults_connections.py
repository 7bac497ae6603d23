"""Connections under faults: half-open connections, event loops in several threads, many users.

Issue 14, faults 4, 5 and 8: a partition without RST must not stall a worker or a
caller for ever (socket timeouts, keepalive, health checks); one bus used from the
event loops of two threads must work (one asyncio client per loop); more than 100
concurrent users of one bus must not exhaust a pool of 100 connections.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs
import llmgine_redis
import pytest
from faultkit import Proxy, Server
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import ResourceDeletedEvent
from llmgine_redis import EventConsumer, RedisConfig, RemoteCommandTimeout, TransportError

pytestmark = [pytest.mark.slow, pytest.mark.redis]


@dataclasses.dataclass
class Nap(Command[int]):
    """Sleeps ``seconds`` on a worker and returns ``n``."""

    n: int
    seconds: float = 0.0


WIRE_NAMES = {Nap: "test.faults.Nap"}
REMOTE_TYPES = [Nap]


async def nap(command: Nap) -> int:
    await asyncio.sleep(command.seconds)
    return command.n


def deleted(i: int) -> ResourceDeletedEvent:
    return ResourceDeletedEvent(resource_id=f"r{i}", resource_type="t")


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """A safety net, not a measurement: fail if ``condition`` is still false after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def finish(task: asyncio.Task[Any], timeout: float = 10) -> None:
    """Wait for ``task``; cancel it if it does not end (a stalled reader must not hang the test)."""
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# Fault 4: half-open connections -----------------------------------------------------------


def partitioned(redis_server: Callable[..., Server], proxy: Callable[[int], Proxy]) -> Any:
    server = redis_server(persist=False)
    return server, proxy(server.port)


async def test_a_consumer_reads_again_after_a_partition_heals(redis_server, proxy, prefix):
    server, p = partitioned(redis_server, proxy)
    # Short timeouts keep the test quick; the defaults bound the stall the same way.
    fast = {"prefix": prefix, "block_ms": 50, "socket_timeout": 1.0, "retries": 1}
    seen: list[str] = []
    bus = MessageBus.isolated()
    bus.subscribe_event("resource.deleted", lambda e: seen.append(e.resource_id))
    consumer = EventConsumer(bus, RedisConfig(url=p.url(), **fast), "g")
    publisher_bus = MessageBus.isolated()
    publisher = llmgine_redis.install(publisher_bus, url=server.url, **fast)
    task = asyncio.create_task(consumer.run("0"))
    try:
        publisher_bus.emit(deleted(0))
        await wait_until(lambda: len(seen) == 1, 10, "the event sent before the partition")
        p.partition()
        await asyncio.sleep(0.5)  # the consumer's connection is now dead, without a FIN or RST
        p.heal()  # new connections work again; the old one stays a black hole
        for i in range(1, 6):
            publisher_bus.emit(deleted(i))  # straight to Redis, not through the proxy
        await wait_until(lambda: len(seen) == 6, 15, "the events sent after the heal")
        assert sorted(seen) == [f"r{i}" for i in range(6)]
    finally:
        consumer.stop()
        await finish(task)
        await publisher.aclose()


@pytest.mark.parametrize("idle", [False, True], ids=["busy", "idle-connection"])
async def test_a_publish_over_a_partition_fails_within_its_retries(
    redis_server, proxy, prefix, monkeypatch, idle
):
    _server, p = partitioned(redis_server, proxy)
    if idle:  # the pooled connection is due a health check (a PING) before it is used
        monkeypatch.setattr("llmgine_redis._config.HEALTH_CHECK_SECONDS", 0.2)
    settings = {"prefix": prefix, "socket_timeout": 0.5, "retries": 3}
    bus = MessageBus.isolated()
    transport = llmgine_redis.install(bus, url=p.url(), **settings)
    bus.emit(deleted(0))
    await bus.emit_async(deleted(1))
    p.partition()
    await asyncio.sleep(0.3)

    async def emit(event: Any) -> None:
        bus.emit(event)  # (the sync client, blocking this loop: nothing else runs in it)

    for publish in (emit, bus.emit_async):
        started = time.monotonic()
        with pytest.raises(TransportError):
            await publish(deleted(2))
        # 4 attempts of at most socket_timeout (0.5 s) each, and their backoff; nested
        # retries (redis-py's connect and health check retry too) took 4 x 4 or more.
        assert time.monotonic() - started < 5
    await transport.aclose()


async def test_a_remote_command_over_a_partition_fails_instead_of_hanging(
    redis_server, proxy, prefix, serving
):
    server, p = partitioned(redis_server, proxy)
    # retries as by default: each would wait out a socket timeout of its own
    settings = {"prefix": prefix, "command_timeout": 3.0, "socket_timeout": 1.0, "retries": 3}
    caller_bus, worker_bus = MessageBus.isolated(), MessageBus.isolated()
    worker_bus.register_command(Nap, nap)
    caller = llmgine_redis.install(caller_bus, url=p.url(), **settings)
    worker = llmgine_redis.install(worker_bus, url=server.url, worker=True, **settings)
    async with serving(worker):
        assert await caller_bus.dispatch_async(Nap(1)) == 1  # its connection is pooled now
        p.partition()
        started = time.monotonic()
        with pytest.raises((TransportError, RemoteCommandTimeout)):
            await asyncio.wait_for(caller_bus.dispatch_async(Nap(2)), 30)  # (safety net)
        # The call's deadline is command_timeout + socket_timeout (4 s), whatever the
        # retries; the slack is for a loaded machine.
        assert time.monotonic() - started < 8
    await caller.aclose()
    await worker.aclose()


# Fault 5: one bus, event loops in two threads ---------------------------------------------


def test_one_bus_emits_from_the_event_loops_of_two_threads(redis_server, prefix):
    server = redis_server(persist=False)
    bus = MessageBus.isolated()
    transport = llmgine_redis.install(bus, url=server.url, prefix=prefix)
    errors: list[BaseException] = []
    per_thread, tasks = 500, 5
    together = threading.Barrier(2)

    async def emit_many(base: int) -> None:
        async def one_task(start: int) -> None:
            for i in range(start, start + per_thread // tasks):
                try:
                    await bus.emit_async(deleted(i))
                except Exception as exc:
                    errors.append(exc)

        together.wait()
        try:
            await asyncio.gather(*(one_task(base + k * per_thread // tasks) for k in range(tasks)))
        finally:
            await transport.outbox.aclose()  # this loop's client (the other's stays open)

    raw = server.client()
    connections = raw.info("stats")["total_connections_received"]
    threads = [
        threading.Thread(target=asyncio.run, args=(emit_many(n * per_thread),)) for n in range(2)
    ]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: the race shows up within 1,000 emits
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)  # a safety net: a deadlocked thread fails the test, not the suite
    finally:
        sys.setswitchinterval(interval)
    try:
        assert not any(t.is_alive() for t in threads), "an emitting thread hangs"
        assert errors == []
        stream = raw.xrange(f"{prefix}:events")
        assert len(stream) == 2 * per_thread
        ids = {json.loads(fields[b"m"])["fields"]["resource_id"] for _, fields in stream}
        assert ids == {f"r{i}" for i in range(2 * per_thread)}
        # One client per event loop, each with at most one connection per task: a client
        # swapped for another at each change of thread would connect again each time.
        opened = raw.info("stats")["total_connections_received"] - connections
        assert opened <= 2 * tasks
    finally:
        raw.close()
        transport.close()


# Fault 8: more than 100 concurrent users ---------------------------------------------------


def test_150_threads_emit_at_once(config, raw, prefix):
    bus = MessageBus.isolated()
    transport = llmgine_redis.install(bus, **attrs.asdict(config()))
    threads_n, each = 150, 20
    start = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def emit(n: int) -> None:
        start.wait()
        try:
            for i in range(each):
                bus.emit(deleted(n * each + i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=emit, args=(n,)) for n in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        assert raw.xlen(f"{prefix}:events") == threads_n * each
    finally:
        transport.close()


@pytest.mark.parametrize("callers", [1, 2], ids=["one-caller", "two-callers-of-75"])
async def test_150_concurrent_remote_commands_on_a_worker_running_120(config, serving, callers):
    # With two callers of 75, neither caller's pool is the limit, only the worker's.
    settings = attrs.asdict(config(command_concurrency=120, command_timeout=10.0))
    buses = [MessageBus.isolated() for _ in range(callers)]
    transports = [llmgine_redis.install(bus, **settings) for bus in buses]
    worker_bus = MessageBus.isolated()
    running, all_running = 0, asyncio.Event()

    async def together(command: Nap) -> int:
        # The first 120 finish together, once all run: their replies are written at once.
        nonlocal running
        running += 1
        if running == 1:  # a safety net: should fewer ever arrive, they go on after 5 s
            asyncio.get_running_loop().call_later(5, all_running.set)
        if running == 120:
            all_running.set()
        await all_running.wait()
        return command.n

    worker_bus.register_command(Nap, together)
    worker = llmgine_redis.install(worker_bus, worker=True, **settings)
    async with serving(worker):
        # Each forwarder holds a connection in BLPOP; the worker writes each reply on
        # its reader's pool.
        results = await asyncio.gather(
            *(buses[n % callers].dispatch_async(Nap(n)) for n in range(150)),
            return_exceptions=True,
        )
    for transport in [*transports, worker]:
        await transport.aclose()
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert results == list(range(150))


def test_a_caller_waits_for_a_busy_pool_then_hears_which_setting_to_raise(config):
    bus = MessageBus.isolated()
    transport = llmgine_redis.install(
        bus, **attrs.asdict(config(max_connections=1, socket_timeout=0.3))
    )
    bus.emit(deleted(0))  # the pool's one connection exists, and is free again
    pool = transport.outbox._sync_client().connection_pool
    held = pool.get_connection()  # as a thread in the middle of a write would
    try:
        with pytest.raises(TransportError, match=r"all 1 connections .* max_connections") as info:
            bus.emit(deleted(1))
        assert "Check that Redis is running" not in str(info.value)  # Redis is fine
    finally:
        pool.release(held)
    bus.emit(deleted(2))  # free again: it is used
    transport.close()


@pytest.mark.parametrize(
    ("setting", "value", "error"),
    [
        ("socket_timeout", 0, ValueError),
        ("socket_timeout", float("inf"), ValueError),
        ("socket_timeout", "5", TypeError),
        ("max_connections", 0, ValueError),
        ("max_connections", 2.5, TypeError),
    ],
)
def test_connection_settings_are_checked(setting, value, error):
    with pytest.raises(error, match=setting):
        RedisConfig(**{setting: value})


def test_connection_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("LLMGINE_REDIS_SOCKET_TIMEOUT", "2.5")
    monkeypatch.setenv("LLMGINE_REDIS_MAX_CONNECTIONS", "50")
    config = llmgine_redis.RedisSettings.from_env().config
    assert (config.socket_timeout, config.max_connections) == (2.5, 50)
