"""``llmgine worker``: a real process that consumes, and drains and acknowledges on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import attrs
import llmgine_redis
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.events import ResourceDeletedEvent

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def test_worker_command_reads_the_llmgine_redis_settings(redis_url):
    env = {**os.environ, "LLMGINE_REDIS_URL": redis_url, "LLMGINE_REDIS_BATCH": "lots"}
    done = subprocess.run(
        [sys.executable, "-m", "llmgine.cli", "worker", "--group", "svc"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "LLMGINE_REDIS_BATCH='lots' must be a whole number" in done.stderr


def test_worker_command_consumes_and_stops_cleanly_on_sigterm(config, raw, redis_url):
    cfg = config()
    # The command line wins over the LLMGINE_REDIS_* settings.
    env = {**os.environ, "LLMGINE_REDIS_URL": redis_url, "LLMGINE_REDIS_STREAM": "not:this"}
    env.pop("LLMGINE_TRANSPORT", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmgine.cli",
            "worker",
            "--group",
            "svc",
            "--stream",
            cfg.event_stream,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while not raw.exists(cfg.event_stream) or not raw.xinfo_groups(cfg.event_stream):
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the worker did not create its group"
            time.sleep(0.05)
        bus = MessageBus.isolated()
        llmgine_redis.install(bus, **attrs.asdict(cfg))
        for i in range(300):
            bus.emit(ResourceDeletedEvent(resource_id=f"r{i}", resource_type="t"))
        llmgine_redis.disable(bus)
        deadline = time.monotonic() + 20
        while raw.xinfo_groups(cfg.event_stream)[0]["entries-read"] != 300:
            assert time.monotonic() < deadline, "the worker did not read the events"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert raw.xpending(cfg.event_stream, "svc")["pending"] == 0
    assert b"worker svc" in (proc.stdout.read() if proc.stdout else b"")


DRAINING_WORKER = """
import asyncio, sys, time
import redis
import llmgine_redis
from llmgine.messages.bus import MessageBus

url, prefix = sys.argv[1:3]
r = redis.Redis.from_url(url)
bus = MessageBus.isolated()

def slow(event):
    r.set(prefix + ":started", 1)
    time.sleep(0.005)
    r.incr(prefix + ":handled")

bus.subscribe_event("resource.deleted", slow)
transport = llmgine_redis.install(bus, worker=True, url=url, prefix=prefix, block_ms=50)
asyncio.run(transport.run_worker("svc", start_id="0"))
"""


def test_sigterm_finishes_and_acknowledges_the_batch_in_flight(config, raw, redis_url, prefix):
    cfg = config()
    bus = MessageBus.isolated()
    llmgine_redis.install(bus, **attrs.asdict(cfg))
    for i in range(200):
        bus.emit(ResourceDeletedEvent(resource_id=f"r{i}", resource_type="t"))
    llmgine_redis.disable(bus)
    proc = subprocess.Popen([sys.executable, "-c", DRAINING_WORKER, redis_url, prefix])
    try:
        deadline = time.monotonic() + 20
        while not raw.exists(f"{prefix}:started"):
            assert proc.poll() is None, "the worker died"
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)  # ~1 s of work is in flight
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    handled = int(raw.get(f"{prefix}:handled") or 0)
    assert handled == 200  # the whole batch it had read was finished ...
    assert raw.xpending(cfg.event_stream, "svc")["pending"] == 0  # ... and acknowledged
