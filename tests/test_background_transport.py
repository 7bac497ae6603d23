"""At least once over transports: ``deliver`` returns once the background subscribers of the
event handled it, and lists their failures (a drop is one) unless ``at_most_once``."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from llmgine.messages import AsyncHandlerError, BackgroundOverflowError, Event
from llmgine.messages.bus import MessageBus

from .background_helpers import PATIENCE, Gate, Tick, until


def test_deliver_returns_after_the_background_subscriber_handled_the_event(
    bus: MessageBus,
) -> None:
    got: list[int] = []
    release = threading.Event()

    def slow(event: Tick) -> None:
        assert release.wait(PATIENCE)
        got.append(event.n)

    bus.subscribe_event(Tick, slow, background=True)
    threading.Timer(0.01, release.set).start()
    assert bus.deliver(Tick(1)) == []
    assert got == [1]  # handled before deliver returned


def test_a_failure_is_listed_and_a_retry_runs_only_that_subscriber(bus: MessageBus) -> None:
    calls = {"fore": 0, "back": 0}

    def fore(event: Tick) -> None:
        calls["fore"] += 1

    def back(event: Tick) -> None:
        calls["back"] += 1
        if calls["back"] == 1:
            raise RuntimeError("not yet")

    bus.subscribe_event(Tick, fore)
    sub = bus.subscribe_event(Tick, back, background=True)
    event = Tick(1)
    ((subscriber, error),) = bus.deliver(event)
    assert subscriber.name == sub.subscriber.name
    assert str(error) == "not yet"
    assert bus.deliver(event, only={subscriber.name}) == []
    assert calls == {"fore": 1, "back": 2}


@pytest.mark.parametrize("overflow", ["drop_newest", "drop_oldest"])
def test_a_drop_is_listed_as_a_failure(bus: MessageBus, overflow: Any) -> None:
    gate = Gate()
    sub = bus.subscribe_event(Tick, gate, background=True, max_pending=1, overflow=overflow)
    bus.emit(Tick(0))
    assert gate.started.wait(PATIENCE)
    if overflow == "drop_newest":
        bus.emit(Tick(1))  # the queue is full: the delivered event is dropped
    returned: list[Any] = []
    delivering = threading.Thread(target=lambda: returned.extend(bus.deliver(Tick(2))))
    delivering.start()
    if overflow == "drop_oldest":
        until(lambda: sub.pending == 1, "the delivered event to be queued")
        bus.emit(Tick(3))  # pushes the delivered event out
    delivering.join(PATIENCE)
    ((subscriber, error),) = returned
    assert subscriber.name == sub.subscriber.name
    assert isinstance(error, BackgroundOverflowError)
    assert "dropped event" in str(error)
    gate.open.set()
    bus.drain()
    assert sub.dropped == 1


def test_at_most_once_is_acknowledged_at_once(bus: MessageBus) -> None:
    gate = Gate()
    bus.subscribe_event(Tick, gate, background=True, at_most_once=True)
    assert bus.deliver(Tick(1)) == []  # its gate is still closed
    assert gate.got == []
    gate.open.set()
    bus.drain()
    assert gate.got == [1]


def test_a_strict_bus_returns_background_failures_of_a_delivery() -> None:
    bus = MessageBus.isolated(strict=True)
    bus.subscribe_event(Tick, lambda e: 1 / 0, background=True)
    ((_, error),) = bus.deliver(Tick(1))
    assert isinstance(error, ZeroDivisionError)
    bus.drain()  # returned, so not raised again


def test_deliver_async_waits_for_thread_and_task_subscribers(bus: MessageBus) -> None:
    got: list[str] = []

    def plain(event: Tick) -> None:
        got.append(f"plain {event.n}")

    async def coro(event: Tick) -> None:
        await asyncio.sleep(0)
        if event.n == 2:
            raise ValueError("two")
        got.append(f"async {event.n}")

    async def main() -> list[Any]:
        bus.subscribe_event(Tick, plain, background=True)
        sub = bus.subscribe_event(Tick, coro, background=True)
        assert await bus.deliver_async(Tick(1)) == []
        assert sorted(got) == ["async 1", "plain 1"]
        failures = await bus.deliver_async(Tick(2))
        assert [s.name for s, _ in failures] == [sub.subscriber.name]
        return failures

    asyncio.run(main())


def test_a_sync_deliver_on_the_loop_of_an_async_subscriber_points_to_deliver_async(
    bus: MessageBus,
) -> None:
    async def log(event: Event) -> None:
        pass

    async def main() -> None:
        bus.subscribe_event(Tick, log, background=True)
        ((_, error),) = bus.deliver(Tick(1))
        assert isinstance(error, AsyncHandlerError)
        assert "deliver_async" in str(error)
        await bus.drain_async()

    asyncio.run(main())


def test_events_queued_later_with_the_same_object_take_no_receipt(bus: MessageBus) -> None:
    got: list[int] = []
    event = Tick(5)

    def again(e: Tick) -> None:
        got.append(e.n)
        if len(got) == 1:
            bus.emit(event)  # the received object again, after its delivery: no receipt

    bus.subscribe_event(Tick, again, background=True)
    assert bus.deliver(event) == []
    bus.drain()
    assert got == [5, 5]


def test_a_put_that_fails_is_listed_once_and_nothing_waits_for_it(bus: MessageBus) -> None:
    async def log(event: Event) -> None:
        pass

    sub = bus.subscribe_event(Tick, log, background=True)  # no loop anywhere
    ((subscriber, error),) = bus.deliver(Tick(1))  # returns: no receipt was left waiting
    assert subscriber.name == sub.subscriber.name
    assert isinstance(error, AsyncHandlerError)
    assert "has no event loop" in str(error)
