"""The fault script's messages and worker process, and how subscribers count what they get.

Counting is done on the consumers' side, on a throwaway server of its own (the
tally) that no fault touches: every subscriber run records the event's *key* (its
``resource_id``: one per logical event, so a retry that re-creates an event with a
new id still counts as the same event), the time (``time.monotonic``, one clock for
every process of the machine) and the event id.

A worker (``python bench/redis_faults.py _worker SPEC``) is what ``llmgine worker``
is, with the script's subscribers: ``RedisTransport.run_worker`` until SIGTERM.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import llmgine_redis
import redis
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event, ResourceDeletedEvent
from llmgine.plugins import get_message_catalog

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).with_name("redis_faults.py")
# The throwaway redis-server and the partitioning proxy the plugin's tests use.
sys.path.insert(0, str(ROOT / "plugins" / "llmgine-redis" / "tests"))
faultkit: Any = importlib.import_module("faultkit")

PREFIX = "faults"
GROUP = "faults"
STREAM = f"{PREFIX}:events"
COMMANDS = f"{PREFIX}:commands:bench.faults.Probe"  # the stream of remote Probe commands


@dataclasses.dataclass
class Measured(Event):
    """An event with float fields (fault 11); ``note`` makes it as large as wanted."""

    event_type = "faults.measured"
    key: str
    value: float
    maybe: float | None = None
    note: str = ""


@dataclasses.dataclass
class Probe(Command[str]):
    """A remote command: the worker records ``probe``, sleeps ``sleep`` s, returns ``probe``."""

    probe: str
    sleep: float = 0.0


@dataclasses.dataclass
class Burst(Command[None]):
    """A local command that queues one event per key (one XADD write for the batch)."""

    keys: list[str]
    kind: str = "ok"
    made: list[Event] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Republish(Command[None]):
    """Queue these very events again (same ids: consumer dedup skips copies)."""

    events: list[Event]


def register_messages() -> None:
    """Name the script's classes in the message catalogue and mark :class:`Probe` remote."""
    catalog = get_message_catalog()
    catalog.register(Measured, "bench.faults.Measured", source="bench/redis_faults")
    catalog.register(Probe, "bench.faults.Probe", source="bench/redis_faults")
    llmgine_redis.remote(Probe)


# The tally: what consumers did -----------------------------------------------------


class Recorder:
    """Records subscriber runs on the tally server (a plain client: subscribers are sync)."""

    def __init__(self, url: str) -> None:
        self.client: Any = redis.Redis.from_url(url)

    def record(self, key: str, event_id: str = "", value: str | None = None) -> None:
        """One run of ``key``'s subscriber (or command handler), now."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hincrby("runs", key, 1)
        pipe.hset("at", key, repr(time.monotonic()))
        if event_id:
            pipe.hincrby("eids", event_id, 1)
        if value is not None:
            pipe.hset("values", key, value)
        pipe.execute()

    def flag(self, name: str) -> None:
        """Tell the case something happened (e.g. a subscriber is stalling now)."""
        self.client.hincrby("flags", name, 1)


def on_resource(recorder: Recorder) -> Callable[[ResourceDeletedEvent], None]:
    """The subscriber; ``resource_type`` says how it behaves: ``ok``, ``fail`` (always
    raises), ``crash`` (kills its worker process), ``slow:S`` (takes S seconds) or
    ``stall:S`` (records, then holds the consumer S seconds)."""

    def subscriber(event: ResourceDeletedEvent) -> None:
        kind, _, arg = event.resource_type.partition(":")
        if kind == "fail":
            raise RuntimeError("this subscriber always fails (fault script)")
        if kind == "crash":
            recorder.flag("crash")
            os._exit(3)  # the process dies mid-batch, as on an OOM kill or a segfault
        if kind == "slow":
            time.sleep(float(arg))
        recorder.record(event.resource_id, event.event_id)
        if kind == "stall":
            recorder.flag("stalled")
            time.sleep(float(arg))

    return subscriber


def measured_value(event: Measured) -> str:
    """What fault 11 compares between sender and receiver."""
    return f"{event.value!r}|{event.maybe!r}|{len(event.note)}"


def worker_main(spec: dict[str, Any]) -> None:
    """A worker process: the subscribers and :class:`Probe`'s handler, until SIGTERM."""
    skew = float(spec.get("clock_skew", 0))
    if skew:  # a host whose clock is ahead (only the wall clock: monotonic is shared)
        real = time.time
        time.time = lambda: real() + skew
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("llmgine.bus").setLevel(logging.CRITICAL)  # the failures we cause
    register_messages()
    recorder = Recorder(spec["tally"])
    bus = MessageBus.isolated()
    bus.subscribe_event(ResourceDeletedEvent, on_resource(recorder))
    bus.subscribe_event(Measured, lambda e: recorder.record(e.key, e.event_id, measured_value(e)))

    async def probe(command: Probe) -> str:
        await asyncio.sleep(command.sleep)
        recorder.record("cmd:" + command.probe)
        return command.probe

    if spec.get("commands", True):
        bus.register_command(Probe, cast(Any, probe))  # an async handler of a Command[str]
    settings = {"url": spec["url"], "prefix": PREFIX, **spec.get("settings", {})}
    transport = llmgine_redis.install(bus, worker=True, **settings)
    asyncio.run(transport.run_worker(spec.get("group", GROUP), spec.get("start", "0")))


class Slot:
    """One supervised worker: restarted when it dies, until retired."""

    def __init__(self, name: str, spec: dict[str, Any], log: Path) -> None:
        self.name, self.spec, self.log = name, spec, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.retired = False
        #: (monotonic time, exit code) of each death the supervisor saw
        self.deaths: list[tuple[float, int]] = []

    def start(self) -> None:
        """Start the worker process (output appended to its log)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGINE_")}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(SCRIPT), "_worker", json.dumps(self.spec)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def pause(self) -> None:
        """SIGSTOP the worker: it holds what it read, and reads nothing, until :meth:`resume`."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (the worker drains and acknowledges), SIGKILL after ``timeout``."""
        self.retired = True
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
