#!/usr/bin/env python3
"""Two processes over Redis Streams, started by one command: ``python examples/redis_demo.py``.

The main process (the "front end") starts a worker process, then:
1. dispatches a remote command; the worker runs the handler and the result comes back;
2. dispatches one whose handler raises: a RemoteCommandError with the remote traceback;
3. emits events, which the worker's subscriber prints (the worker's own events, queued
   by its handler, come back to the front end's subscriber the same way).
Finally it stops the worker with SIGTERM (it drains and acknowledges) and removes the
demo's keys. Needs Redis on 127.0.0.1:6379 (or LLMGINE_REDIS_URL) and llmgine-redis.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid

import llmgine_redis
import redis
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event, ResourceCreatedEvent
from llmgine.plugins import get_message_catalog

URL = os.environ.get("LLMGINE_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclasses.dataclass
class Summarize(Command[str]):
    """Shorten ``text`` to ``words`` words (runs on a worker)."""

    text: str
    words: int = 4


# Both processes give the type the same wire name and mark it remote. (A plugin names
# its messages in its register_messages(register) hook; this script is no plugin, so it
# adds its one class to the message catalogue itself.)
get_message_catalog().register(Summarize, "demo.Summarize", source="redis_demo")
llmgine_redis.remote(Summarize)


def worker(prefix: str) -> None:
    """The worker process: handles Summarize, prints the events it receives."""
    bus = MessageBus.isolated()

    def summarize(command: Summarize) -> str:
        if not command.text:
            raise ValueError("nothing to summarize")
        summary = " ".join(command.text.split()[: command.words]) + " ..."
        bus.add_pending_event(
            ResourceCreatedEvent(
                resource_id=command.command_id,
                resource_type="summary",
                resource_data={"s": summary},
            )
        )
        return summary

    def show(event: Event) -> None:
        print(
            f"  [worker] received {event.event_type} {getattr(event, 'resource_id', '')}",
            flush=True,
        )

    bus.register_command(Summarize, summarize)
    bus.subscribe_event("resource.deleted", show)
    transport = llmgine_redis.install(bus, worker=True, url=URL, prefix=prefix)
    asyncio.run(transport.run_worker(group="demo-worker"))
    print("  [worker] stopped cleanly after SIGTERM", flush=True)


async def front_end(prefix: str) -> None:
    bus = MessageBus.isolated()
    got: list[Event] = []
    bus.subscribe_event("resource.created", got.append)
    transport = llmgine_redis.install(bus, url=URL, prefix=prefix, command_timeout=10)
    listener = transport.consumer("demo-front-end")
    await listener.ensure_groups()

    print("1. remote command -> result")
    print(
        "  ", await bus.dispatch_async(Summarize("Redis streams carry commands between processes"))
    )
    print("2. remote command -> remote exception")
    try:
        await bus.dispatch_async(Summarize(""))
    except llmgine_redis.RemoteCommandError as error:
        print(f"   RemoteCommandError: {error.error_type}: {error.remote_message}")
        print("   remote traceback ends with:", error.remote_traceback.strip().splitlines()[-1])
    print("3. events to the worker, and the worker's events back")
    from llmgine.messages.events import ResourceDeletedEvent

    for i in range(3):
        await bus.emit_async(ResourceDeletedEvent(resource_id=f"doc-{i}", resource_type="doc"))
    deadline = time.monotonic() + 10
    while len(got) < 1 and time.monotonic() < deadline:
        await listener.poll()
    await listener.drain()
    for event in got:
        print(f"  [front end] received {event.event_type} with {dict(event.resource_data)}")
    await asyncio.sleep(0.5)  # let the worker print what it received
    await transport.aclose()


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
        return 0
    client = redis.Redis.from_url(URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        print(
            f"Redis is not reachable at {URL} ({exc}); start one with: "
            "redis-server --daemonize yes --port 6379 --save ''"
        )
        return 1
    prefix = f"llmgine-demo-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen([sys.executable, __file__, "--worker", prefix])
    try:
        deadline = time.monotonic() + 15
        while not client.exists(f"{prefix}:commands:demo.Summarize"):  # the worker is up
            if proc.poll() is not None or time.monotonic() > deadline:
                print("the worker did not start")
                return 1
            time.sleep(0.05)
        asyncio.run(front_end(prefix))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
