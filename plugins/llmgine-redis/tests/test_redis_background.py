"""Background subscribers over a real Redis: an event is acknowledged only once they handled
it (a failure is retried for that subscriber alone), unless they accept at most once."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import attrs
import llmgine_redis
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.events import Event
from llmgine_redis import EventConsumer

pytestmark = pytest.mark.redis


@dataclass
class Uploaded(Event):
    name: str


WIRE_NAMES = {Uploaded: "test.background.Uploaded"}


async def _sender(config: Any) -> tuple[MessageBus, Any]:
    cfg = config()
    sender = MessageBus.isolated()
    llmgine_redis.install(sender, **attrs.asdict(cfg))
    return sender, cfg


@pytest.mark.parametrize("kind", ["thread", "task"])
async def test_a_background_failure_is_redelivered_to_it_alone_then_acknowledged(
    config, pump, raw, kind
):
    sender, cfg = await _sender(config)
    receiver = MessageBus.isolated()
    calls = {"foreground": 0, "background": 0}

    def foreground(event: Uploaded) -> None:
        calls["foreground"] += 1

    def flaky(event: Uploaded) -> None:
        calls["background"] += 1
        if calls["background"] == 1:
            raise RuntimeError("the index is down")

    async def async_flaky(event: Uploaded) -> None:
        await asyncio.sleep(0)
        flaky(event)

    receiver.subscribe_event(Uploaded, foreground)
    receiver.subscribe_event(Uploaded, flaky if kind == "thread" else async_flaky, background=True)
    reader = EventConsumer(receiver, cfg, "svc", consumer="c1")
    await reader.ensure_groups()
    sender.emit(Uploaded("a.txt"))
    await pump([reader], lambda: reader.processed == 1)
    assert calls == {"foreground": 1, "background": 2}  # retried alone
    assert raw.xpending(cfg.event_stream, "svc")["pending"] == 0
    assert raw.xlen(f"{cfg.event_stream}:dead") == 0
    await receiver.drain_async()
    llmgine_redis.disable(sender)


async def test_the_event_stays_pending_while_the_background_subscriber_works(config, pump, raw):
    sender, cfg = await _sender(config)
    receiver = MessageBus.isolated()
    started, release = threading.Event(), threading.Event()
    got: list[str] = []

    def slow(event: Uploaded) -> None:
        started.set()
        assert release.wait(30)
        got.append(event.name)

    receiver.subscribe_event(Uploaded, slow, background=True)
    reader = EventConsumer(receiver, cfg, "svc", consumer="c1")
    await reader.ensure_groups()
    sender.emit(Uploaded("b.txt"))
    pumping = asyncio.create_task(pump([reader], lambda: reader.processed == 1))
    while not started.is_set():  # (the loop goes on: the consumer awaits the subscriber)
        await asyncio.sleep(0.001)
    assert raw.xpending(cfg.event_stream, "svc")["pending"] == 1  # read, not acknowledged
    release.set()
    await pumping
    assert got == ["b.txt"]
    assert raw.xpending(cfg.event_stream, "svc")["pending"] == 0
    llmgine_redis.disable(sender)


async def test_at_most_once_is_acknowledged_at_once(config, pump, raw):
    sender, cfg = await _sender(config)
    receiver = MessageBus.isolated()
    release = threading.Event()
    got: list[str] = []

    def slow(event: Uploaded) -> None:
        assert release.wait(30)
        got.append(event.name)

    receiver.subscribe_event(Uploaded, slow, background=True, at_most_once=True)
    reader = EventConsumer(receiver, cfg, "svc", consumer="c1")
    await reader.ensure_groups()
    sender.emit(Uploaded("c.txt"))
    await pump([reader], lambda: reader.processed == 1)
    assert raw.xpending(cfg.event_stream, "svc")["pending"] == 0  # acknowledged...
    assert got == []  # ...while the subscriber has not handled it yet
    release.set()
    await receiver.drain_async()
    assert got == ["c.txt"]
    llmgine_redis.disable(sender)


async def test_a_full_queue_of_an_at_most_once_async_subscriber_is_awaited_not_dead_lettered(
    config, pump, raw
):
    cfg = config(max_attempts=1)  # (a failed delivery is dead-lettered at once)
    sender = MessageBus.isolated()
    llmgine_redis.install(sender, **attrs.asdict(cfg))
    receiver = MessageBus.isolated()
    release = asyncio.Event()
    got: list[str] = []

    async def ui(event: Uploaded) -> None:  # a UI socket: losing an event at a crash is fine
        await release.wait()
        got.append(event.name)

    sub = receiver.subscribe_event(Uploaded, ui, background=True, max_pending=2, at_most_once=True)
    reader = EventConsumer(receiver, cfg, "svc", consumer="c1")
    await reader.ensure_groups()
    names = [f"{n}.txt" for n in range(6)]
    for name in names:
        sender.emit(Uploaded(name))
    pumping = asyncio.create_task(pump([reader], lambda: reader.processed == len(names)))
    dead = f"{cfg.event_stream}:dead"
    while sub.pending < 2 and not raw.xlen(dead):  # full (one more being handled)...
        await asyncio.sleep(0.001)
    release.set()  # ...while the consumer awaits room: none failed
    assert raw.xlen(dead) == 0
    await pumping
    await receiver.drain_async()
    assert got == names
    llmgine_redis.disable(sender)
