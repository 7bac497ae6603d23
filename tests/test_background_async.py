"""Background subscribers that are ``async def``: drained by a task on an event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

import pytest
from llmgine.messages import AsyncHandlerError, BackgroundError, Event, SubscriberError
from llmgine.messages.bus import MessageBus

from .background_helpers import PATIENCE, Tick


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


class AsyncGate:
    """An async subscriber recording what it got (and in which task), blocked while closed."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.started = asyncio.Event()
        self.got: list[int] = []
        self.tasks: list[asyncio.Task[Any] | None] = []

    async def __call__(self, event: Tick) -> None:
        self.started.set()
        self.tasks.append(asyncio.current_task())
        await asyncio.wait_for(self.open.wait(), PATIENCE)
        self.got.append(event.n)


async def settle() -> None:
    """Let the loop run what is ready (a few passes)."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_events_run_in_tasks_of_their_own_in_order(bus: MessageBus) -> None:
    async def main() -> None:
        gate = AsyncGate()
        sub = bus.subscribe_event(Tick, gate, background=True)
        for n in range(20):
            await bus.emit_async(Tick(n))  # returns at once: nothing waits for the subscriber
        for n in range(20, 40):
            bus.emit(Tick(n))  # the plain emit works with async background subscribers
        await settle()
        assert gate.got == []
        gate.open.set()
        await bus.drain_async()
        assert gate.got == list(range(40))
        assert sub.pending == 0
        main_task = asyncio.current_task()
        assert all(t is not None and t is not main_task for t in gate.tasks)
        assert len(set(gate.tasks)) == 40
        assert {t.get_name() for t in gate.tasks if t is not None} == {sub.subscriber.name}

    run(main())


@pytest.mark.parametrize(
    ("overflow", "expected"),
    [("drop_newest", [0, 1, 2]), ("drop_oldest", [0, 9, 10])],
)
def test_drop_policies_drop_exactly_what_does_not_fit(
    bus: MessageBus, overflow: Any, expected: list[int]
) -> None:
    async def main() -> None:
        gate = AsyncGate()
        sub = bus.subscribe_event(Tick, gate, background=True, max_pending=2, overflow=overflow)
        await bus.emit_async(Tick(0))
        await asyncio.wait_for(gate.started.wait(), PATIENCE)
        for n in range(1, 11):
            await bus.emit_async(Tick(n))
        assert sub.dropped == 8
        gate.open.set()
        await bus.drain_async()
        assert gate.got == expected

    run(main())


def test_emit_async_awaits_room_on_the_loop_that_drains_the_queue(bus: MessageBus) -> None:
    async def main() -> None:
        gate = AsyncGate()
        sub = bus.subscribe_event(Tick, gate, background=True, max_pending=1)
        queue = sub.subscriber.background

        async def publish() -> None:
            for n in range(6):
                await bus.emit_async(Tick(n))

        publisher = asyncio.create_task(publish())
        for _ in range(1000):
            await asyncio.sleep(0)
            if queue.waiting:  # type: ignore[union-attr]
                break
        assert queue.waiting == 1  # type: ignore[union-attr]
        assert not publisher.done()  # backpressure, without blocking the loop
        gate.open.set()
        await publisher
        await bus.drain_async()
        assert gate.got == list(range(6))
        assert sub.dropped == 0

    run(main())


def test_a_sync_emit_on_that_loop_with_a_full_queue_fails_pointing_to_emit_async() -> None:
    bus = MessageBus.isolated(strict=True)

    async def main() -> None:
        gate = AsyncGate()
        bus.subscribe_event(Tick, gate, background=True, max_pending=1)
        bus.emit(Tick(0))
        await asyncio.wait_for(gate.started.wait(), PATIENCE)
        bus.emit(Tick(1))  # fits
        with pytest.raises(SubscriberError) as info:
            bus.emit(Tick(2))  # would block the loop its queue needs
        (error,) = info.value.exceptions
        assert isinstance(error, AsyncHandlerError)
        assert "emit_async" in str(error)
        assert "queue is full" in str(error)
        assert "dispatch()" in str(error)
        assert "deliver()" in str(error)
        gate.open.set()
        await bus.drain_async()
        assert gate.got == [0, 1]

    run(main())


def test_sync_drain_and_close_on_its_loop_point_to_the_async_forms(bus: MessageBus) -> None:
    closed: list[str] = []

    async def main() -> None:
        got: list[int] = []

        async def log(event: Tick) -> None:
            got.append(event.n)

        bus.subscribe_event(Tick, log, background=True)
        bus.on_close(lambda: closed.append("closed"))
        await bus.emit_async(Tick(1))
        with pytest.raises(AsyncHandlerError, match=r"drain_async\(\)"):
            bus.drain()
        with pytest.raises(AsyncHandlerError, match=r"aclose\(\)"):
            bus.close()
        assert closed == []
        await bus.aclose()
        assert got == [1]
        assert closed == ["closed"]

    run(main())


def test_a_put_from_another_thread_is_handed_over_to_the_loop(bus: MessageBus) -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    gate = AsyncGate()
    try:

        async def subscribe() -> None:
            bus.subscribe_event(Tick, gate, background=True)
            gate.open.set()

        asyncio.run_coroutine_threadsafe(subscribe(), loop).result(PATIENCE)
        for n in range(50):
            bus.emit(Tick(n))  # no loop in this thread: handed over
        bus.drain()  # (not on that loop: it blocks until the loop's task is done)
        assert gate.got == list(range(50))
        assert all(t is not None and t.get_loop() is loop for t in gate.tasks)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def test_without_a_loop_the_failure_is_reported_then_a_loop_is_found(bus: MessageBus) -> None:
    errors: list[Event] = []
    bus.subscribe_event("system.bus.error", errors.append)
    got: list[int] = []

    async def log(event: Tick) -> None:
        got.append(event.n)

    bus.subscribe_event(Tick, log, background=True)  # no loop running
    bus.emit(Tick(0))
    (report,) = errors
    assert "has no event loop" in report.details["error"]  # type: ignore[attr-defined]

    async def publish(n: int) -> None:
        await bus.emit_async(Tick(n))
        await bus.drain_async()

    run(publish(1))  # the first publish on a loop binds it
    run(publish(2))  # that loop has closed: the next one takes over
    assert got == [1, 2]
    bus.emit(Tick(3))
    assert "has closed" in errors[-1].details["error"]  # type: ignore[attr-defined]


def test_events_left_when_the_loop_ends_are_kept_for_the_next_loop(bus: MessageBus) -> None:
    gate = AsyncGate()

    async def leave() -> None:
        bus.subscribe_event(Tick, gate, background=True)
        for n in range(3):
            await bus.emit_async(Tick(n))
        await asyncio.wait_for(gate.started.wait(), PATIENCE)
        # returns without drain_async(): asyncio.run cancels the event being handled

    run(leave())
    with pytest.raises(BackgroundError, match=r"3 event.* its event loop has closed"):
        bus.drain()

    async def resume() -> None:
        gate.open = asyncio.Event()  # (an asyncio.Event of this loop)
        gate.open.set()
        await bus.emit_async(Tick(3))
        await bus.drain_async()

    run(resume())
    assert gate.got == [0, 1, 2, 3]


def test_failures_are_reported_and_the_others_go_on(bus: MessageBus) -> None:
    errors: list[Event] = []
    bus.subscribe_event("system.bus.error", errors.append)
    handled: list[int] = []

    async def flaky(event: Tick) -> None:
        await asyncio.sleep(0)
        if event.n == 1:
            raise ValueError("one is bad")
        handled.append(event.n)

    async def main() -> None:
        bus.subscribe_event(Tick, flaky, background=True)
        for n in range(3):
            await bus.emit_async(Tick(n))
        await bus.drain_async()

    run(main())
    assert handled == [0, 2]
    assert [e.details["error"] for e in errors] == ["one is bad"]  # type: ignore[attr-defined]


def test_a_strict_bus_raises_the_failure_from_the_next_drain_async() -> None:
    bus = MessageBus.isolated(strict=True)

    async def bad(event: Tick) -> None:
        raise ValueError("bad")

    async def main() -> None:
        bus.subscribe_event(Tick, bad, background=True)
        await bus.emit_async(Tick(0))
        with pytest.raises(SubscriberError, match="1 subscriber"):
            await bus.drain_async()
        await bus.drain_async()  # raised once

    run(main())


def test_pending_events_and_async_middleware(bus: MessageBus) -> None:
    seen: list[str] = []

    async def middleware(event: Event, call_next: Any) -> Any:
        seen.append(f"{call_next.handler_name}:{type(event).__name__}")
        return await call_next(event)

    follow_ups: list[Event] = []

    async def on_follow_up(event: Event) -> None:  # async: published with publish_async
        follow_ups.append(event)

    async def react(event: Tick) -> None:
        if event.n < 2:
            bus.add_pending_event(Tick(event.n + 10))

    async def main() -> None:
        sub = bus.subscribe_event(Tick, react, background=True)
        bus.subscribe_event(Tick, on_follow_up)
        bus.add_event_middleware(middleware)
        await bus.emit_async(Tick(0))
        await bus.drain_async()
        assert [e.n for e in follow_ups] == [0, 10]  # type: ignore[attr-defined]
        assert follow_ups[1].causation_id == follow_ups[0].event_id
        assert f"{sub.subscriber.name}:Tick" in seen

    run(main())


def test_drain_async_waits_for_thread_queues_without_blocking_the_loop(bus: MessageBus) -> None:
    release = threading.Event()
    got: list[int] = []

    def slow(event: Tick) -> None:
        assert release.wait(PATIENCE)
        got.append(event.n)

    async def main() -> None:
        bus.subscribe_event(Tick, slow, background=True)
        bus.emit(Tick(7))
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                if ticks == 50:
                    release.set()  # only if the loop keeps running while drain_async waits
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await bus.drain_async()
        task.cancel()
        assert got == [7]

    run(main())
