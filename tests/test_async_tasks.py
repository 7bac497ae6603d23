"""Async subscribers run as tasks of their own, like any asyncio task."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import gc
import warnings
from unittest import mock

from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event


@dataclasses.dataclass
class Said(Event):
    event_type = "test.said"
    text: str


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


var: contextvars.ContextVar[str] = contextvars.ContextVar("test_var", default="emitter")


def test_context_variable_tokens_work_across_awaits_in_a_subscriber(bus: MessageBus) -> None:
    """E.g. tracing libraries attach a context, await, then detach it."""
    results: list[str] = []

    async def traced(event: Said) -> None:
        token = var.set("subscriber")
        await asyncio.sleep(0)
        results.append(var.get())
        var.reset(token)
        results.append("reset")

    async def main() -> str:
        bus.subscribe_event(Said, traced)
        bus.subscribe_event(Said, traced)  # same handler: deduplicated
        await bus.emit_async(Said(text="x"))
        return var.get()

    strict = MessageBus.isolated(strict=True)
    strict.subscribe_event(Said, traced)
    bus_value = run(main())
    run(strict.emit_async(Said(text="y")))
    assert results == ["subscriber", "reset", "subscriber", "reset"]
    assert bus_value == "emitter"  # nothing leaked into the emitter's context


def test_a_timeout_inside_a_subscriber_does_not_cancel_the_emitter(bus: MessageBus) -> None:
    outcome: list[str] = []

    async def with_timeout(event: Said) -> None:
        try:
            async with asyncio.timeout(0):
                await asyncio.sleep(10)
        except TimeoutError:
            outcome.append("timed out")

    async def other(event: Said) -> None:
        await asyncio.sleep(0)
        outcome.append("other")

    async def main() -> int:
        bus.subscribe_event(Said, with_timeout)
        bus.subscribe_event(Said, other)
        await bus.emit_async(Said(text="x"))
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    assert run(main()) == 0
    assert sorted(outcome) == ["other", "timed out"]


def test_subscriber_sees_its_own_task(bus: MessageBus) -> None:
    tasks: list[object] = []

    async def subscriber(event: Said) -> None:
        tasks.append(asyncio.current_task())
        await asyncio.sleep(0)
        tasks.append(asyncio.current_task())

    async def main() -> object:
        bus.subscribe_event(Said, subscriber)
        await bus.emit_async(Said(text="x"))
        return asyncio.current_task()

    emitter = run(main())
    assert tasks[0] is tasks[1]
    assert tasks[0] is not emitter


def test_subscriber_tasks_come_from_the_loops_task_factory_when_one_is_set(
    bus: MessageBus,
) -> None:
    """An application's task factory (e.g. for tracing) also makes the subscribers' tasks."""
    made: list[str] = []
    seen: list[bool] = []

    def factory(loop, coro, **kwargs):  # type: ignore[no-untyped-def]
        made.append(coro.__qualname__)
        return asyncio.Task(coro, loop=loop, **kwargs)

    async def subscriber(event: Said) -> None:
        seen.append(asyncio.current_task() is not None)

    async def main() -> None:
        asyncio.get_running_loop().set_task_factory(factory)
        bus.subscribe_event(Said, subscriber)
        await bus.emit_async(Said(text="x"))

    run(main())
    assert seen == [True]
    assert subscriber.__qualname__ in made


def test_subscriber_tasks_are_named_after_their_subscriber(bus: MessageBus) -> None:
    """``asyncio.all_tasks()`` and task dumps say which subscriber a task runs."""
    names: list[str] = []

    async def subscriber(event: Said) -> None:
        task = asyncio.current_task()
        assert task is not None
        names.append(task.get_name())

    def plain_returning_a_coroutine(event: Said):  # type: ignore[no-untyped-def]
        return subscriber(event)

    async def main() -> list[str]:
        first = bus.subscribe_event(Said, subscriber)
        second = bus.subscribe_event(Said, plain_returning_a_coroutine)
        await bus.emit_async(Said(text="x"))
        return [first.subscriber.name, second.subscriber.name]

    assert names == run(main())


def test_cancelling_the_emitter_before_the_subscribers_first_steps_cancels_them(
    bus: MessageBus,
) -> None:
    """The emitter lets the loop run the subscribers' first steps once before it waits on
    them; a cancellation arriving then cancels every subscriber task and publishes nothing."""
    cancelled: list[str] = []
    published: list[str] = []

    async def main() -> list[str]:
        emitter = asyncio.current_task()
        assert emitter is not None

        async def cancels_the_emitter(event: Said) -> None:
            bus.add_pending_event(Said(text="never"))
            emitter.cancel()  # the emitter is waiting for this first step to finish
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append("subscriber")
                raise

        bus.subscribe_event("test.said", cancels_the_emitter)
        bus.subscribe_event("test.said", lambda e: published.append(e.text))
        try:
            await bus.emit_async(Said(text="root"))
        except asyncio.CancelledError:
            published.append("emitter cancelled")
        await asyncio.sleep(0)  # let the cancelled subscriber task finish
        return list(cancelled)  # (asyncio.run() would cancel a leftover task itself)

    assert run(main()) == ["subscriber"]
    assert published == ["root", "emitter cancelled"]


def test_a_task_factory_is_called_with_loop_and_coroutine_only(bus: MessageBus) -> None:
    """A factory written as ``(loop, coro)`` works (Python 3.14 passes ``create_task``'s
    keyword arguments on to the factory), and the task still gets its subscriber's name."""
    given: list[dict[str, object]] = []
    names: list[str] = []

    def factory(loop, coro, **kwargs):  # type: ignore[no-untyped-def]
        if coro.__qualname__ == subscriber.__qualname__:  # (asyncio.run makes tasks too)
            given.append(kwargs)
        return asyncio.Task(coro, loop=loop, **kwargs)

    async def subscriber(event: Said) -> None:
        await asyncio.sleep(0)  # (named by then: the factory's task starts later)
        task = asyncio.current_task()
        assert task is not None
        names.append(task.get_name())

    async def main() -> str:
        asyncio.get_running_loop().set_task_factory(factory)
        subscription = bus.subscribe_event(Said, subscriber)
        await bus.emit_async(Said(text="x"))
        return subscription.subscriber.name

    assert names == [run(main())]
    assert given == [{}]


def test_a_subscriber_whose_task_cannot_be_made_fails_and_its_coroutine_is_closed(
    bus: MessageBus,
) -> None:
    failures: list[str] = []

    def factory(loop, coro):  # type: ignore[no-untyped-def]
        if coro.__qualname__ == subscriber.__qualname__:  # (asyncio.run makes tasks too)
            raise RuntimeError("no tasks today")
        return asyncio.Task(coro, loop=loop)

    async def subscriber(event: Said) -> None:
        raise AssertionError("never runs")

    async def main() -> None:
        asyncio.get_running_loop().set_task_factory(factory)
        bus.subscribe_event(Said, subscriber)
        bus.subscribe_event("system.bus.error", lambda e: failures.append(e.details["error"]))
        await bus.emit_async(Said(text="x"))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would fail here
        run(main())
        gc.collect()
    assert failures == ["no tasks today"]


def test_the_bus_does_not_call_asyncio_sleep(bus: MessageBus) -> None:
    """Tests that patch ``asyncio.sleep`` see only their subscribers' calls."""

    async def subscriber(event: Said) -> None:
        await asyncio.sleep(2)

    async def main() -> None:
        bus.subscribe_event(Said, subscriber)
        with mock.patch("asyncio.sleep") as sleep:
            await bus.emit_async(Said(text="x"))
        sleep.assert_awaited_once_with(2)

    run(main())


def test_a_plain_subscriber_cancelling_the_emitter_cancels_the_async_ones(
    bus: MessageBus,
) -> None:
    """The cancellation is the emitter's, not read as the async subscriber's own failure."""
    reports: list[str] = []

    async def main() -> list[str]:
        emitter = asyncio.current_task()
        assert emitter is not None
        cancelled: list[str] = []

        def cancels_the_emitter(event: Said) -> None:
            emitter.cancel()

        async def waits(event: Said) -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append("waits")
                raise

        bus.subscribe_event("system.bus.error", lambda e: reports.append(e.message))
        bus.subscribe_event(Said, cancels_the_emitter)
        bus.subscribe_event(Said, waits)
        try:
            await bus.emit_async(Said(text="x"))
        except asyncio.CancelledError:
            cancelled.append("emitter")
        await asyncio.sleep(0)
        return cancelled

    assert sorted(run(main())) == ["emitter", "waits"]
    assert reports == []


def test_a_plain_subscriber_raising_system_exit_cancels_the_async_ones_started(
    bus: MessageBus,
) -> None:
    """SystemExit, KeyboardInterrupt: the emit stops, and leaves no subscriber running."""
    published: list[str] = []

    async def waits(event: Said) -> None:
        bus.add_pending_event(Said(text="never published"))
        await asyncio.Event().wait()

    def exits(event: Said) -> None:
        raise SystemExit(3)

    bus.subscribe_event(Said, waits)
    bus.subscribe_event(Said, exits)
    bus.subscribe_event("*", lambda e: published.append(e.text))

    async def main() -> list[asyncio.Task[object]]:
        try:
            await bus.emit_async(Said(text="x"))
        except SystemExit:
            published.append("exit")
        await asyncio.sleep(0)
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert run(main()) == []  # the subscriber task was cancelled, not left behind
    assert published == ["exit"]


def test_an_async_subscriber_can_await_a_suspending_nested_dispatch(
    llmgine_bus: MessageBus,
) -> None:
    """Its first step runs eagerly; the context-variable token the nested dispatch makes
    there must still be valid when it resumes in its task."""
    bus = llmgine_bus
    results: list[str] = []

    @dataclasses.dataclass
    class Ask(Command[str]):
        text: str

    async def handle(command: Ask) -> str:
        await asyncio.sleep(0)
        bus.add_pending_event(Said(text="from the nested dispatch"))
        return "answer"

    async def subscriber(event: Said) -> None:
        if event.text == "first":
            results.append(await bus.dispatch_async(Ask(text="q")))

    bus.register_command(Ask, handle)
    bus.subscribe_event(Said, subscriber)
    bus.subscribe_event(Said, lambda e: results.append(e.text))
    run(bus.emit_async(Said(text="first")))
    assert results == ["first", "from the nested dispatch", "answer"]
