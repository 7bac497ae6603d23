"""dispatch_async and emit_async: async and plain handlers, concurrency, cancellation."""

from __future__ import annotations

import asyncio
import dataclasses
import sys

import pytest
from llmgine.messages import NoActiveScopeError
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event, SystemEvent


@dataclasses.dataclass
class Ask(Command[str]):
    text: str = "q"


@dataclasses.dataclass
class Said(Event):
    event_type = "test.said"
    text: str


class Boom(Exception):
    pass


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


# dispatch_async -------------------------------------------------------------------


def test_dispatch_async_awaits_an_async_handler(bus: MessageBus) -> None:
    seen: list[str] = []
    bus.subscribe_event(Said, lambda e: seen.append(e.text))

    async def handler(command: Ask) -> str:
        await asyncio.sleep(0)
        bus.add_pending_event(Said(text="from async"))
        return command.text.upper()

    bus.register_command(Ask, handler)
    assert run(bus.dispatch_async(Ask(text="hi"))) == "HI"
    assert seen == ["from async"]


def test_dispatch_async_calls_a_plain_handler(bus: MessageBus) -> None:
    def handler(command: Ask) -> str:
        bus.add_pending_event(Said(text="plain"))
        return "sync result"

    seen: list[str] = []
    bus.subscribe_event(Said, lambda e: seen.append(e.text))
    bus.register_command(Ask, handler)
    assert run(bus.dispatch_async(Ask())) == "sync result"
    assert seen == ["plain"]


def test_dispatch_async_awaits_a_coroutine_returned_by_a_plain_callable(bus: MessageBus) -> None:
    async def work(command: Ask) -> str:
        return "awaited"

    bus.register_command(Ask, lambda c: work(c))
    assert run(bus.dispatch_async(Ask())) == "awaited"


def test_dispatch_async_handler_error_reaches_the_caller_and_drops_events(
    bus: MessageBus,
) -> None:
    seen: list[str] = []
    bus.subscribe_event(Said, lambda e: seen.append(e.text))

    async def handler(command: Ask) -> str:
        bus.add_pending_event(Said(text="lost"))
        await asyncio.sleep(0)
        raise Boom("async failure")

    bus.register_command(Ask, handler)
    with pytest.raises(Boom, match="async failure"):
        run(bus.dispatch_async(Ask()))
    assert seen == []


def test_events_queued_by_tasks_the_handler_awaits_join_its_dispatch(bus: MessageBus) -> None:
    seen: list[str] = []
    bus.subscribe_event(Said, lambda e: seen.append(e.text))

    def in_thread(text: str) -> None:
        bus.add_pending_event(Said(text=text))

    async def child(text: str) -> None:
        await asyncio.sleep(0)
        bus.add_pending_event(Said(text=text))

    async def handler(command: Ask) -> str:
        await asyncio.gather(child("task 1"), asyncio.create_task(child("task 2")))
        await asyncio.to_thread(in_thread, "thread")
        return "ok"

    bus.register_command(Ask, handler)
    run(bus.dispatch_async(Ask()))
    assert sorted(seen) == ["task 1", "task 2", "thread"]


def test_a_task_outliving_its_handler_cannot_queue_into_the_finished_dispatch(
    bus: MessageBus,
) -> None:
    """Its event would be silently lost: it must raise and point to emit instead."""
    seen: list[str] = []
    errors: list[BaseException] = []
    bus.subscribe_event(Said, lambda e: seen.append(e.text))
    released = asyncio.Event

    async def main() -> None:
        gate = released()

        async def straggler() -> None:
            await gate.wait()
            try:
                bus.add_pending_event(Said(text="late"))
            except NoActiveScopeError as exc:
                errors.append(exc)

        async def handler(command: Ask) -> str:
            asyncio.get_running_loop().create_task(straggler())
            return "done"

        bus.register_command(Ask, handler)
        await bus.dispatch_async(Ask())
        gate.set()
        for _ in range(3):
            await asyncio.sleep(0)

    run(main())
    assert seen == []
    assert len(errors) == 1
    assert "emit" in str(errors[0])


def test_cancelled_dispatch_async_publishes_nothing(bus: MessageBus) -> None:
    seen: list[str] = []
    bus.subscribe_event("*", lambda e: seen.append(e.event_type))
    started = asyncio.Event

    async def main() -> None:
        entered = started()

        async def handler(command: Ask) -> str:
            bus.add_pending_event(Said(text="queued before cancel"))
            entered.set()
            await asyncio.Event().wait()  # until cancelled
            return "never"

        bus.register_command(Ask, handler)
        task = asyncio.create_task(bus.dispatch_async(Ask()))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        bus.unregister_command(Ask)
        bus.register_command(Ask, lambda c: "second")
        assert await bus.dispatch_async(Ask()) == "second"

    run(main())
    assert seen == []


# emit_async ----------------------------------------------------------------------


def test_emit_async_calls_async_and_plain_subscribers_in_order(bus: MessageBus) -> None:
    started: list[str] = []

    async def first(event: Said) -> None:
        started.append("async 1")
        await asyncio.sleep(0)

    def second(event: Said) -> None:
        started.append("plain")

    async def third(event: Said) -> None:
        started.append("async 2")

    for subscriber in (first, second, third):
        bus.subscribe_event(Said, subscriber)
    run(bus.emit_async(Said(text="x")))
    assert started.index("async 1") < started.index("async 2")
    assert sorted(started) == ["async 1", "async 2", "plain"]


def test_async_subscribers_of_one_event_run_concurrently(bus: MessageBus) -> None:
    """Each waits for the other: run one after the other, they would never finish."""

    async def main() -> list[str]:
        a_ready, b_ready = asyncio.Event(), asyncio.Event()
        done: list[str] = []

        async def a(event: Said) -> None:
            a_ready.set()
            await b_ready.wait()
            done.append("a")

        async def b(event: Said) -> None:
            b_ready.set()
            await a_ready.wait()
            done.append("b")

        bus.subscribe_event(Said, a)
        bus.subscribe_event(Said, b)
        await asyncio.wait_for(bus.emit_async(Said(text="x")), timeout=10)
        return done

    assert sorted(run(main())) == ["a", "b"]


def test_async_subscribers_are_started_in_subscription_order(bus: MessageBus) -> None:
    started: list[int] = []

    def make(i: int):  # type: ignore[no-untyped-def]
        async def subscriber(event: Said) -> None:
            started.append(i)
            await asyncio.sleep(0)

        return subscriber

    for i in range(10):
        bus.subscribe_event(Said, make(i))
    run(bus.emit_async(Said(text="x")))
    assert started == list(range(10))


def test_async_subscriber_failure_is_isolated_and_reported(bus: MessageBus) -> None:
    done: list[str] = []
    reports: list[SystemEvent] = []

    async def fails_later(event: Said) -> None:
        await asyncio.sleep(0)
        raise Boom("late")

    async def fails_at_once(event: Said) -> None:
        raise Boom("early")

    async def ok(event: Said) -> None:
        await asyncio.sleep(0)
        if event.text == "x":
            bus.add_pending_event(Said(text="from ok"))
        done.append(event.text)

    bus.subscribe_event("system.bus.error", reports.append)
    bus.subscribe_event(Said, fails_later)
    bus.subscribe_event(Said, fails_at_once)
    bus.subscribe_event(Said, ok)
    run(bus.emit_async(Said(text="x")))
    assert done == ["x", "from ok"]
    assert sorted(r.details["error"] for r in reports) == ["early", "early", "late", "late"]


def test_a_cancelled_subscriber_is_a_failure_not_a_cancellation_of_the_emitter(
    bus: MessageBus,
) -> None:
    reports: list[SystemEvent] = []
    done: list[str] = []

    async def cancels_itself(event: Said) -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(0)

    async def ok(event: Said) -> None:
        await asyncio.sleep(0)
        done.append("ok")

    bus.subscribe_event("system.bus.error", reports.append)
    bus.subscribe_event(Said, cancels_itself)
    bus.subscribe_event(Said, ok)
    run(bus.emit_async(Said(text="x")))
    assert done == ["ok"]
    assert [r.details["subscriber"].rsplit(".", 1)[-1] for r in reports] == ["cancels_itself"]


def test_cancelling_emit_async_cancels_running_subscribers_and_publishes_nothing(
    bus: MessageBus,
) -> None:
    seen: list[str] = []
    cancelled: list[str] = []

    async def main() -> None:
        entered = asyncio.Event()

        async def slow(event: Said) -> None:
            bus.add_pending_event(Said(text="never"))
            entered.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append("slow")
                raise

        bus.subscribe_event("test.said", slow)
        bus.subscribe_event(Said, lambda e: seen.append(e.text))
        task = asyncio.create_task(bus.emit_async(Said(text="root")))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)

    run(main())
    assert seen == ["root"]
    assert cancelled == ["slow"]


# Events that subscribers queue on the async paths ------------------------------------


@dataclasses.dataclass
class Numbered(Event):
    event_type = "test.numbered"
    n: int = 0


class Start(Event):
    event_type = "test.start"


def test_async_and_plain_subscribers_run_by_generation_in_their_order(bus: MessageBus) -> None:
    order: list[str] = []

    async def quick(event: Numbered) -> None:
        order.append(f"quick{event.n}")
        if event.n == 1:
            bus.add_pending_event(Numbered(2))

    async def slow(event: Numbered) -> None:
        order.append(f"slow-start{event.n}")
        await asyncio.sleep(0)
        order.append(f"slow-end{event.n}")

    async def handle(command: Ask) -> int:
        await asyncio.sleep(0)
        bus.add_pending_event(Numbered(1))
        return 7

    bus.register_command(Ask, handle)
    bus.subscribe_event(Numbered, slow)
    bus.subscribe_event(Numbered, quick)
    bus.subscribe_event(Numbered, lambda e: order.append(f"sync{e.n}"))
    assert run(bus.dispatch_async(Ask())) == 7
    # async subscribers start in subscription order and run concurrently (slow suspends,
    # quick goes on); generation 2 comes after. On 3.12+ their tasks start eagerly, so
    # the plain one runs in its subscription turn; on 3.11 it runs before their bodies.
    if sys.version_info >= (3, 12):
        generation = ("slow-start{n}", "quick{n}", "sync{n}", "slow-end{n}")
    else:
        generation = ("sync{n}", "slow-start{n}", "quick{n}", "slow-end{n}")
    assert order == [step.format(n=n) for n in (1, 2) for step in generation]


def test_async_subscribers_keep_their_events_apart_and_in_order(bus: MessageBus) -> None:
    published: list[int] = []

    async def suspends_then_queues(event: Start) -> None:
        bus.add_pending_event(Numbered(11))
        await asyncio.sleep(0)
        bus.add_pending_event(Numbered(12))

    async def quick(event: Start) -> None:
        bus.add_pending_event(Numbered(21))

    async def fails_after_suspending(event: Start) -> None:
        bus.add_pending_event(Numbered(31))
        await asyncio.sleep(0)
        raise RuntimeError("late failure")

    async def fails_at_once(event: Start) -> None:
        bus.add_pending_event(Numbered(41))
        raise RuntimeError("early failure")

    def plain(event: Start) -> None:
        bus.add_pending_event(Numbered(51))

    for subscriber in (suspends_then_queues, fails_at_once, quick, fails_after_suspending, plain):
        bus.subscribe_event(Start, subscriber)
    bus.subscribe_event(Numbered, lambda e: published.append(e.n))
    run(bus.emit_async(Start()))
    # in subscription order; the two failed subscribers' events are dropped
    assert published == [11, 12, 21, 51]


def test_emit_async_plain_subscribers_keep_their_events_apart(bus: MessageBus) -> None:
    published: list[int] = []

    def first(event: Start) -> None:
        bus.add_pending_event(Numbered(1))

    def failing(event: Start) -> None:
        bus.add_pending_event(Numbered(2))
        raise RuntimeError("plain failure")

    async def later(event: Start) -> None:
        await asyncio.sleep(0)
        bus.add_pending_event(Numbered(3))

    def last(event: Start) -> None:
        bus.add_pending_event(Numbered(4))

    bus.subscribe_event(Start, first)
    bus.subscribe_event(Start, failing)
    bus.subscribe_event(Start, lambda e: later(e))  # plain, returns a coroutine
    bus.subscribe_event(Start, last)
    bus.subscribe_event(Numbered, lambda e: published.append(e.n))
    run(bus.emit_async(Start()))
    assert published == [1, 3, 4]


def test_cancelling_emit_async_wins_even_if_a_subscriber_swallows_it(bus: MessageBus) -> None:
    published: list[int] = []
    stopped: list[str] = []

    async def stubborn(event: Numbered) -> None:
        bus.add_pending_event(Numbered(9))
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            stopped.append("stubborn")  # swallows the cancellation and returns

    async def patient(event: Numbered) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            stopped.append("patient")
            raise

    bus.subscribe_event(Numbered, stubborn)
    bus.subscribe_event(Numbered, patient)
    bus.subscribe_event(Numbered, lambda e: published.append(e.n))

    async def main() -> None:
        emitting = asyncio.ensure_future(bus.emit_async(Numbered(1)))
        await asyncio.sleep(0.01)
        emitting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await emitting

    run(main())
    assert sorted(stopped) == ["patient", "stubborn"]
    assert published == [1]  # the 9 stubborn queued is not published
