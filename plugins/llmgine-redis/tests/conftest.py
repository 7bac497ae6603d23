"""Fixtures for llmgine-redis tests: a real Redis on loopback, unique key names, throwaway servers.

Without Redis on 127.0.0.1:6379 the tests that need it are skipped with how to
start one, except under ``CI=true``, where they fail: CI must not go green by
skipping them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import llmgine_redis
import pytest
import redis
from faultkit import Proxy, Server
from llmgine.plugins import get_message_catalog
from llmgine_redis import RedisConfig, RedisTransport

URL = os.environ.get("LLMGINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
HOW = "start one with: redis-server --daemonize yes --port 6379 --save ''"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests here with ``asyncio.run`` (no asyncio plugin needed)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    test = pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names})

    async def run() -> None:
        try:
            await test
        finally:  # close what the test opened, in its own event loop
            while _pumped:
                await _pumped.pop().drain()
            for transport in _transports():
                await transport.aclose()

    asyncio.run(run())
    return True


def _transports() -> list[RedisTransport]:
    """Every transport still alive, whatever bus a test made it on (the plugin lists none)."""
    return [o for o in gc.get_objects() if isinstance(o, RedisTransport)]


@pytest.fixture(autouse=True)
def _wire_names(request: pytest.FixtureRequest) -> None:
    """Register the test module's ``WIRE_NAMES`` (``{class: wire name}``) in the message catalogue,
    then mark its ``REMOTE_TYPES`` command classes remote.

    Before each test, not once at import: other tests of the session may start a fresh
    plugin host, and with it a fresh catalogue. (A plugin names its classes in its
    ``register_messages`` hook; these test classes belong to no plugin.)
    """
    catalog = get_message_catalog()
    for cls, name in getattr(request.module, "WIRE_NAMES", {}).items():
        catalog.register(cls, name, source="llmgine-redis tests")
    for cls in getattr(request.module, "REMOTE_TYPES", ()):
        llmgine_redis.remote(cls)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a reachable Redis (db 15), or skip/fail as the module docstring says."""
    try:
        redis.Redis.from_url(URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        message = f"Redis is not reachable at {URL} ({exc}); {HOW}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return URL


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix unique to the test; every key under it is deleted afterwards."""
    name = f"llmgine-test-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def config(redis_url: str, prefix: str) -> Callable[..., RedisConfig]:
    """Build a config on the test's prefix with test-friendly timings."""

    def make(**settings: Any) -> RedisConfig:
        base: dict[str, Any] = {
            "url": redis_url,
            "prefix": prefix,
            "block_ms": 50,
            "claim_idle_ms": 500,
            "retry_backoff": 0.01,
            "command_timeout": 5.0,
        }
        base.update(settings)
        return RedisConfig(**base)

    return make


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client on the test database."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


_pumped: list[Any] = []


async def _pump(readers: list[Any], done: Callable[[], bool], timeout: float = 20.0) -> None:
    _pumped.extend(r for r in readers if r not in _pumped)
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for {readers}")
        for reader in readers:
            await reader.poll()
        await asyncio.sleep(0)
    for reader in readers:
        await reader.flush()


@pytest.fixture
def pump() -> Callable[..., Any]:
    """``await pump(readers, done)``: poll until ``done()``, then flush; fail after a timeout."""
    return _pump


@contextlib.asynccontextmanager
async def _serving(worker: Any) -> AsyncIterator[None]:
    server = worker.command_server()
    assert server is not None
    await server.ensure_groups()

    serving = True

    async def serve() -> None:
        try:
            # Also stopped by the flag: on Python 3.11 a cancellation that arrives as
            # redis-py's asyncio.wait_for (around each write, with a socket timeout)
            # finishes is lost, and the loop would poll for ever.
            while serving:
                await server.poll()
                await asyncio.sleep(0)
        finally:
            await server.drain()

    # The task copies the context of this moment: what the block makes current later
    # (an OpenTelemetry span, say) is not the worker's.
    task = asyncio.create_task(serve())
    try:
        yield
    finally:
        serving = False
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
def serving() -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """``async with serving(transport):`` serves its remote commands in a task; drains after."""
    return _serving


@pytest.fixture
def redis_server(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start private redis-servers; stopped (by pid) after the test.

    ``redis_server(password=..., tls=..., persist=..., maxmemory=..., extra=...)``
    takes :class:`faultkit.Server`'s options.
    """
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed; install Redis to run this test"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    started: list[Server] = []

    def start(password: str | None = None, tls: bool = False, **options: Any) -> Server:
        directory = tmp_path / f"s{len(started)}"
        directory.mkdir()
        server = Server(directory, password, tls, **options)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def proxy() -> Iterator[Callable[[int], Proxy]]:
    """``proxy(port)``: a TCP proxy to a loopback port that can partition; closed after."""
    made: list[Proxy] = []

    def make(port: int) -> Proxy:
        made.append(Proxy(port))
        return made[-1]

    yield make
    for p in made:
        p.close()


@pytest.fixture
def throwaway_redis(redis_server: Callable[..., Server]) -> Server:
    """A private redis-server to stop and restart (never the shared one)."""
    return redis_server()
