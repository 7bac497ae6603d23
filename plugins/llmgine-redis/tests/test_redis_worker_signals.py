"""``llmgine worker`` stopping: the background subscribers' queues are emptied before it exits,
and a second signal ends it at once (a worker whose work in flight hangs can still be stopped)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import llmgine_redis
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.events import ResourceCreatedEvent

pytestmark = [pytest.mark.slow, pytest.mark.redis]

#: A worker process whose bus has one background subscriber (``SUBSCRIBER``'s body), run
#: through the real command line entry point; it prints how many events that subscriber
#: handled once ``llmgine worker`` returned.
WORKER = """
import argparse, asyncio, time
from llmgine.cli import build_parser
from llmgine.messages.bus import message_bus
from llmgine_redis._cli import worker_command

handled = []
{subscriber}
message_bus.subscribe_event("resource.created", subscriber, **{options})
parser = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
args = parser.choices["worker"].parse_args(["--group", "svc", "--from-start"])
status = worker_command(args)
print(f"handled {{len(handled)}}, status {{status}}", flush=True)
"""


def start_worker(tmp_path: Path, redis_url: str, prefix: str, subscriber: str, options: str):
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(subscriber=textwrap.dedent(subscriber), options=options))
    env = {
        **os.environ,
        "LLMGINE_REDIS_URL": redis_url,
        "LLMGINE_REDIS_PREFIX": prefix,
        "LLMGINE_REDIS_PATTERNS": "resource.*",
        "LLMGINE_REDIS_BLOCK_MS": "50",
    }
    env.pop("LLMGINE_TRANSPORT", None)
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(script)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return proc, log


def wait_for(log: Path, text: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while text not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"no {text!r} in: " + log.read_text()
        time.sleep(0.05)


def send(redis_url: str, prefix: str, count: int) -> None:
    sender = MessageBus.isolated()
    llmgine_redis.install(sender, url=redis_url, prefix=prefix, patterns=("resource.*",))
    for i in range(count):
        sender.emit(ResourceCreatedEvent(resource_id=f"r{i}", resource_type="doc"))
    sender.close()


def test_a_stop_waits_for_the_background_subscribers_queued_events(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    # at_most_once: each event is acknowledged once queued, so only the worker's wait for
    # the queue keeps them from being lost at exit
    subscriber = """
    def subscriber(event):
        time.sleep(0.05)  # a slow index
        handled.append(event)
    """
    options = "dict(background=True, at_most_once=True)"
    proc, log = start_worker(tmp_path, redis_url, prefix, subscriber, options)
    try:
        wait_for(log, "SIGTERM or Ctrl-C stops reading", proc)
        send(redis_url, prefix, 10)
        wait_for(log, "", proc)
        time.sleep(0.3)  # (some are handled, most still queued)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "handled 10, status 0" in log.read_text()


def test_a_second_signal_ends_a_worker_whose_work_in_flight_hangs(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    subscriber = """
    async def subscriber(event):
        await asyncio.Event().wait()  # a remote index that never answers
    """
    proc, log = start_worker(tmp_path, redis_url, prefix, subscriber, "dict(background=True)")
    try:
        wait_for(log, "SIGTERM or Ctrl-C stops reading", proc)
        send(redis_url, prefix, 1)
        time.sleep(0.5)  # (the event is in flight: delivered, waiting for the subscriber)
        proc.send_signal(signal.SIGINT)
        wait_for(log, "llmgine worker svc: SIGINT: stops reading", proc)
        time.sleep(0.3)
        assert proc.poll() is None  # still waiting for the work in flight
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 128 + signal.SIGINT.value, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "llmgine worker svc: second SIGINT: exiting now; the work in flight" in text
    assert "Traceback" not in text
