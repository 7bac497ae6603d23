"""Command and event middleware: order, paths, composition once, and the shipped middleware."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import llmgine
import pytest
from llmgine.messages import Command, Event, MessageBus, message_bus
from llmgine.messages.errors import CommandHandlerNotFound
from llmgine.middleware import HandlerTimeoutError, Logging, Next, Retry, Timeout, Timing
from llmgine.plugins import PluginLoadError
from llmgine.testing import EventRecorder

M = __name__  # test_middleware, or tests.test_middleware


@dataclass
class Add(Command[int]):
    a: int
    b: int


@dataclass
class Flaky(Command[str]):
    retryable: ClassVar[bool] = True
    fail_times: int


@dataclass
class Added(Event):
    total: int


def add(command: Add) -> int:
    message_bus.add_pending_event(Added(total=command.a + command.b))
    return command.a + command.b


async def add_async(command: Add) -> int:
    await asyncio.sleep(0)
    return command.a + command.b


def recording(log: list[str], name: str) -> Any:
    def middleware(message: Any, call_next: Next[Any]) -> Any:
        log.append(f"{name} before {call_next.handler_name.rsplit('.', 1)[-1]}")
        result = call_next(message)
        log.append(f"{name} after")
        return result

    return middleware


def test_first_added_is_outermost_and_handler_name_is_passed(llmgine_bus: MessageBus) -> None:
    log: list[str] = []
    llmgine_bus.register_command(Add, add)
    llmgine_bus.add_command_middleware(recording(log, "outer"))
    llmgine_bus.add_command_middleware(recording(log, "inner"))
    assert llmgine_bus.dispatch(Add(1, 2)) == 3
    assert log == ["outer before add", "inner before add", "inner after", "outer after"]


def test_middleware_can_change_message_and_result(llmgine_bus: MessageBus) -> None:
    llmgine_bus.register_command(Add, add)
    llmgine_bus.add_command_middleware(lambda c, call_next: call_next(Add(c.a * 10, c.b)) + 1)
    assert llmgine_bus.dispatch(Add(1, 2)) == 13


def test_plain_functions_wrap_sync_paths_and_async_functions_async_paths(
    llmgine_bus: MessageBus,
) -> None:
    log: list[str] = []
    llmgine_bus.register_command(Add, add_async)
    llmgine_bus.add_command_middleware(recording(log, "sync"))

    async def async_mw(message: Any, call_next: Next[Any]) -> Any:
        log.append("async before")
        return await call_next(message)

    llmgine_bus.add_command_middleware(async_mw)
    assert asyncio.run(llmgine_bus.dispatch_async(Add(2, 2))) == 4
    assert log == ["async before"]


def test_around_middleware_wraps_both_paths(llmgine_bus: MessageBus) -> None:
    timing = Timing()
    llmgine_bus.register_command(Add, add)
    llmgine_bus.add_command_middleware(timing)
    llmgine_bus.dispatch(Add(1, 1))
    asyncio.run(llmgine_bus.dispatch_async(Add(1, 1)))
    stats = timing.stats[(f"{M}.Add", f"{M}.add")]
    assert (stats.calls, stats.failures) == (2, 0)
    assert stats.max_seconds >= stats.mean_seconds > 0


def test_handler_events_are_published_after_the_chain(
    llmgine_bus: MessageBus, llmgine_events: EventRecorder
) -> None:
    seen: list[int] = []
    llmgine_bus.register_command(Add, add)

    def check(message: Any, call_next: Next[Any]) -> Any:
        result = call_next(message)
        seen.append(len(llmgine_events))  # not yet published
        return result

    llmgine_bus.add_command_middleware(check)
    llmgine_bus.dispatch(Add(1, 1))
    assert seen == [0]
    assert llmgine_events.types() == ["Added"]


def test_event_middleware_wraps_each_subscriber_on_both_paths(llmgine_bus: MessageBus) -> None:
    log: list[str] = []

    def first(event: Event) -> None:
        log.append("first")

    async def second(event: Event) -> None:
        log.append("second")

    llmgine_bus.subscribe_event(Added, first)
    llmgine_bus.add_event_middleware(recording(log, "mw"))
    llmgine_bus.emit(Added(total=1))
    assert log == ["mw before first", "first", "mw after"]
    log.clear()
    llmgine_bus.subscribe_event(Added, second)
    timing = Timing()
    llmgine_bus.add_event_middleware(timing)
    asyncio.run(llmgine_bus.emit_async(Added(total=1)))
    assert log == ["first", "second"]  # the plain-function middleware is sync-only
    assert sorted(name for _, name in timing.stats) == [
        f"{M}.test_event_middleware_wraps_each_subscriber_on_both_paths.<locals>.first",
        f"{M}.test_event_middleware_wraps_each_subscriber_on_both_paths.<locals>.second",
    ]


def test_no_middleware_means_the_plain_handler_is_cached(llmgine_bus: MessageBus) -> None:
    llmgine_bus.register_command(Add, add)
    llmgine_bus.subscribe_event(Added, print)
    llmgine_bus.dispatch(Add(1, 1))
    entry = llmgine_bus._handlers.resolved[Add]
    assert entry.handler is add
    assert entry.ahandler is add
    plan = llmgine_bus.subscribers_for(Added(total=1))
    assert plan.handlers == (print,)
    assert plan.asubscribers is plan.subscribers

    remove = llmgine_bus.add_command_middleware(Timing())
    llmgine_bus.dispatch(Add(1, 1))
    assert llmgine_bus._handlers.resolved[Add].handler is not add
    remove()
    llmgine_bus.dispatch(Add(1, 1))
    assert llmgine_bus._handlers.resolved[Add].handler is add


def test_removing_one_of_two_additions_of_a_middleware_keeps_the_other(
    llmgine_bus: MessageBus,
) -> None:
    log: list[str] = []
    llmgine_bus.register_command(Add, add)
    shared = recording(log, "shared")
    remove_first = llmgine_bus.add_command_middleware(shared)
    llmgine_bus.add_command_middleware(shared)
    remove_first()
    remove_first()  # a second call still does nothing
    llmgine_bus.dispatch(Add(1, 2))
    assert log == ["shared before add", "shared after"]


def test_a_remover_kept_across_reset_leaves_later_middleware_alone(
    llmgine_bus: MessageBus,
) -> None:
    log: list[str] = []
    stale = llmgine_bus.add_command_middleware(recording(log, "old"))
    llmgine_bus.reset()
    llmgine_bus.register_command(Add, add)
    llmgine_bus.add_command_middleware(recording(log, "new"))
    stale()
    llmgine_bus.dispatch(Add(1, 2))
    assert log == ["new before add", "new after"]


def test_applies_leaves_middleware_out_of_a_class_chain(llmgine_bus: MessageBus) -> None:
    llmgine_bus.register_command(Add, add)
    llmgine_bus.add_command_middleware(Retry())  # Add is not retryable
    llmgine_bus.dispatch(Add(1, 1))
    assert llmgine_bus._handlers.resolved[Add].handler is add


def test_invalid_middleware_is_rejected(llmgine_bus: MessageBus) -> None:
    with pytest.raises(TypeError, match="middleware must be a function"):
        llmgine_bus.add_command_middleware(42)  # type: ignore[arg-type]


def flaky_handler(attempts: list[int]) -> Any:
    def handle(command: Flaky) -> str:
        attempts.append(len(attempts) + 1)
        message_bus.add_pending_event(Added(total=len(attempts)))
        if len(attempts) <= command.fail_times:
            raise ConnectionError(f"attempt {len(attempts)} failed")
        return f"ok after {len(attempts)}"

    return handle


def test_retry_backs_off_and_publishes_only_the_successful_attempts_events(
    llmgine_bus: MessageBus, llmgine_events: EventRecorder
) -> None:
    attempts: list[int] = []
    sleeps: list[float] = []
    llmgine_bus.register_command(Flaky, flaky_handler(attempts))
    llmgine_bus.add_command_middleware(Retry(attempts=4, backoff=0.5, sleep=sleeps.append))
    assert llmgine_bus.dispatch(Flaky(fail_times=2)) == "ok after 3"
    assert sleeps == [0.5, 1.0]
    assert [e.total for e in llmgine_events.of(Added)] == [3]  # type: ignore[attr-defined]


def test_retry_gives_up_after_its_attempts(llmgine_bus: MessageBus) -> None:
    attempts: list[int] = []
    sleeps: list[float] = []
    llmgine_bus.register_command(Flaky, flaky_handler(attempts))
    llmgine_bus.add_command_middleware(
        Retry(attempts=3, backoff=1, max_delay=1.5, sleep=sleeps.append)
    )
    with pytest.raises(ConnectionError, match="attempt 3 failed"):
        llmgine_bus.dispatch(Flaky(fail_times=5))
    assert attempts == [1, 2, 3]
    assert sleeps == [1.0, 1.5]


def test_retry_only_retries_listed_exceptions(llmgine_bus: MessageBus) -> None:
    attempts: list[int] = []
    llmgine_bus.register_command(Flaky, flaky_handler(attempts))
    llmgine_bus.add_command_middleware(Retry(retry_on=(TimeoutError,), sleep=lambda s: None))
    with pytest.raises(ConnectionError):
        llmgine_bus.dispatch(Flaky(fail_times=1))
    assert attempts == [1]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["dispatch", "dispatch_async"])
def test_retry_does_not_retry_llmgines_programming_errors(
    llmgine_bus: MessageBus, asynchronous: bool
) -> None:
    """A missing handler is missing on every attempt: no backoff, no second call."""
    calls: list[str] = []
    sleeps: list[float] = []

    async def record(delay: float) -> None:
        sleeps.append(delay)

    def handle(command: Flaky) -> None:
        calls.append("flaky")
        llmgine_bus.dispatch(Add(1, 2))  # nobody handles Add on this bus

    llmgine_bus.register_command(Flaky, handle)
    llmgine_bus.add_command_middleware(Retry(sleep=sleeps.append, async_sleep=record))

    def run() -> None:
        if asynchronous:
            asyncio.run(llmgine_bus.dispatch_async(Flaky(fail_times=0)))
        else:
            llmgine_bus.dispatch(Flaky(fail_times=0))

    with pytest.raises(CommandHandlerNotFound):
        run()
    assert calls == ["flaky"]
    assert sleeps == []


def test_retry_async(llmgine_bus: MessageBus) -> None:
    attempts: list[int] = []
    sleeps: list[float] = []

    async def record(delay: float) -> None:
        sleeps.append(delay)

    llmgine_bus.register_command(Flaky, flaky_handler(attempts))
    llmgine_bus.add_command_middleware(Retry(async_sleep=record))
    assert asyncio.run(llmgine_bus.dispatch_async(Flaky(fail_times=1))) == "ok after 2"
    assert sleeps == [0.05]


def test_retry_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="attempts"):
        Retry(attempts=0)
    with pytest.raises(ValueError, match="factor"):
        Retry(factor=0.5)


@dataclass
class Slow(Command[str]):
    seconds: float


@dataclass
class Quick(Slow):
    timeout_seconds: ClassVar[float] = 0.001


async def slow(command: Slow) -> str:
    await asyncio.sleep(command.seconds)
    return "done"


def test_timeout_cancels_slow_async_handlers(llmgine_bus: MessageBus) -> None:
    llmgine_bus.register_command(Slow, slow)
    llmgine_bus.add_command_middleware(Timeout(0.05))
    assert asyncio.run(llmgine_bus.dispatch_async(Slow(0))) == "done"
    with pytest.raises(
        HandlerTimeoutError, match=r"test_middleware\.slow took longer than 0\.05 s"
    ):
        asyncio.run(llmgine_bus.dispatch_async(Slow(30)))
    with pytest.raises(HandlerTimeoutError, match=r"0\.001 s"):
        asyncio.run(llmgine_bus.dispatch_async(Quick(30)))


def test_timeout_lets_the_handlers_own_timeout_error_through(llmgine_bus: MessageBus) -> None:
    async def own(command: Slow) -> str:
        raise TimeoutError("upstream timed out")

    llmgine_bus.register_command(Slow, own)
    llmgine_bus.add_command_middleware(Timeout(5))
    with pytest.raises(TimeoutError, match="upstream") as info:
        asyncio.run(llmgine_bus.dispatch_async(Slow(0)))
    assert not isinstance(info.value, HandlerTimeoutError)
    with pytest.raises(ValueError, match="positive"):
        Timeout(0)


def test_logging_middleware(llmgine_bus: MessageBus, caplog: pytest.LogCaptureFixture) -> None:
    llmgine_bus.register_command(Add, add)
    llmgine_bus.add_command_middleware(Logging())
    with caplog.at_level(logging.DEBUG, logger="llmgine.middleware"):
        llmgine_bus.dispatch(Add(1, 1))
        with pytest.raises(TypeError):
            llmgine_bus.dispatch(Add(1, None))  # type: ignore[arg-type]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith(f"command {M}.Add ")
    assert messages[0].endswith(f"-> {M}.add")
    assert f" done by {M}.add in " in messages[1]
    assert caplog.records[3].levelno == logging.WARNING
    assert " failed in " in messages[3]


class MiddlewarePlugin:
    """A plugin object handing over middleware through the hook."""

    def __init__(self, log: list[str], fail: bool = False) -> None:
        self.log = log
        self.fail = fail

    @llmgine.hookimpl
    def register_commands(self, register: Any) -> None:
        register(Add, add)

    @llmgine.hookimpl
    def register_middleware(self, add_command_middleware: Any, add_event_middleware: Any) -> None:
        add_command_middleware(recording(self.log, "plugin"))
        add_event_middleware(recording(self.log, "plugin-event"))
        if self.fail:
            raise RuntimeError("broken plugin")


def test_hook_register_middleware_goes_inside_host_middleware_added_before(
    llmgine_bus: MessageBus, llmgine_load_plugin: Any
) -> None:
    log: list[str] = []
    llmgine_bus.add_command_middleware(recording(log, "host-before"))
    llmgine_load_plugin(MiddlewarePlugin(log))
    llmgine_bus.add_command_middleware(recording(log, "host-after"))
    llmgine_bus.dispatch(Add(1, 1))
    assert log == [
        "host-before before add",
        "plugin before add",
        "host-after before add",
        "host-after after",
        "plugin after",
        "host-before after",
    ]


def test_hook_register_middleware_failing_leaves_no_middleware(
    llmgine_bus: MessageBus, llmgine_load_plugin: Any
) -> None:
    with pytest.raises(PluginLoadError, match="broken plugin"):
        llmgine_load_plugin(MiddlewarePlugin([], fail=True))
    assert llmgine_bus._middleware.command == ()
    assert llmgine_bus._middleware.event == ()
    assert llmgine_bus.command_handlers() == {}


def test_around_keeps_plain_subscribers_plain_on_the_async_path(llmgine_bus: MessageBus) -> None:
    tasks: list[object] = []

    def plain(event: Added) -> None:
        tasks.append(asyncio.current_task())

    async def emit() -> object:
        await llmgine_bus.emit_async(Added(total=1))
        return asyncio.current_task()

    llmgine_bus.subscribe_event(Added, plain)
    llmgine_bus.add_event_middleware(Timing())
    emitter = asyncio.run(emit())
    assert tasks == [emitter]  # called in the emitter's task: no coroutine, no task

    async def async_only(message: Any, call_next: Next[Any]) -> Any:
        return await call_next(message)

    llmgine_bus.add_event_middleware(async_only)
    emitter = asyncio.run(emit())
    assert tasks[1] is not emitter  # now the chain is a coroutine, run in its own task


def test_timeout_leaves_plain_handlers_unwrapped(llmgine_bus: MessageBus) -> None:
    llmgine_bus.register_command(Add, add)
    llmgine_bus.add_command_middleware(Timeout(1))
    assert asyncio.run(llmgine_bus.dispatch_async(Add(1, 2))) == 3
    assert llmgine_bus._handlers.resolved[Add].ahandler is add


def test_retry_keeps_the_events_queued_by_outer_middleware(llmgine_bus: MessageBus) -> None:
    attempts: list[int] = []

    def outer(command: Any, call_next: Next[Any]) -> Any:
        message_bus.add_pending_event(Added(total=-1))  # queued before Retry's attempts
        return call_next(command)

    def flaky(command: Flaky) -> str:
        attempts.append(1)
        message_bus.add_pending_event(Added(total=len(attempts)))
        if len(attempts) <= command.fail_times:
            raise RuntimeError("try again")
        return "ok"

    published: list[int] = []
    llmgine_bus.subscribe_event(Added, lambda e: published.append(e.total))
    llmgine_bus.add_command_middleware(outer)
    llmgine_bus.add_command_middleware(Retry(sleep=lambda s: None))
    llmgine_bus.register_command(Flaky, flaky)
    assert llmgine_bus.dispatch(Flaky(fail_times=2)) == "ok"
    assert published == [-1, 3]  # the outer event, then only the successful attempt's


def test_async_retry_keeps_the_events_queued_by_outer_middleware(llmgine_bus: MessageBus) -> None:
    attempts: list[int] = []

    async def outer(command: Any, call_next: Next[Any]) -> Any:
        message_bus.add_pending_event(Added(total=-1))
        return await call_next(command)

    async def flaky(command: Flaky) -> str:
        attempts.append(1)
        message_bus.add_pending_event(Added(total=len(attempts)))
        if len(attempts) <= command.fail_times:
            raise RuntimeError("try again")
        return "ok"

    async def no_sleep(seconds: float) -> None:
        pass

    published: list[int] = []
    llmgine_bus.subscribe_event(Added, lambda e: published.append(e.total))
    llmgine_bus.add_command_middleware(outer)
    llmgine_bus.add_command_middleware(Retry(async_sleep=no_sleep))
    llmgine_bus.register_command(Flaky, flaky)
    assert asyncio.run(llmgine_bus.dispatch_async(Flaky(fail_times=1))) == "ok"
    assert published == [-1, 2]


@dataclass
class Fetch(Command[str]):
    retryable: ClassVar[bool] = True


def test_retry_does_not_retry_an_attempt_cancelled_by_an_outer_timeout(
    llmgine_bus: MessageBus,
) -> None:
    # Timeout outside Retry: one limit for all attempts. A handler (a driver) that reports
    # the cancellation as an error of its own must not get a retry, which would run with
    # no limit left (the cancellation was delivered) and hide that time ran out.
    llmgine_bus.add_command_middleware(Timeout(0.01))
    llmgine_bus.add_command_middleware(Retry(backoff=0))
    attempts: list[int] = []

    async def fetch(command: Fetch) -> str:
        attempts.append(1)
        if len(attempts) > 1:
            return "retried after the time ran out"
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise ConnectionAbortedError("request aborted") from None
        return "unreachable"

    llmgine_bus.register_command(Fetch, fetch)
    with pytest.raises(ConnectionAbortedError):
        asyncio.run(llmgine_bus.dispatch_async(Fetch()))
    assert attempts == [1]


def test_retry_still_retries_an_attempt_its_own_inner_timeout_cancelled(
    llmgine_bus: MessageBus,
) -> None:
    llmgine_bus.add_command_middleware(Retry(backoff=0))
    llmgine_bus.add_command_middleware(Timeout(0.01))  # per attempt
    attempts: list[int] = []

    async def fetch(command: Fetch) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            await asyncio.Event().wait()
        return "second attempt"

    llmgine_bus.register_command(Fetch, fetch)
    assert asyncio.run(llmgine_bus.dispatch_async(Fetch())) == "second attempt"


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [("5", TypeError, "a number of seconds, got '5'"), (0, ValueError, "positive, got 0")],
)
def test_timeout_names_a_class_whose_timeout_seconds_is_no_time_limit(
    llmgine_bus: MessageBus, value: object, error: type[Exception], message: str
) -> None:
    class Odd(Command[str]):
        timeout_seconds = value

    async def odd(command: Odd) -> str:
        return "ran"

    llmgine_bus.register_command(Odd, odd)
    llmgine_bus.add_command_middleware(Timeout(1))
    with pytest.raises(error, match=rf"\.Odd\.timeout_seconds must be {message}"):
        asyncio.run(llmgine_bus.dispatch_async(Odd()))
    with pytest.raises(TypeError, match="a number of seconds, got '1'"):
        Timeout("1")  # type: ignore[arg-type]


def test_timeout_seconds_none_means_no_limit_for_that_class(llmgine_bus: MessageBus) -> None:
    class Unlimited(Command[str]):
        timeout_seconds = None

    async def unlimited(command: Unlimited) -> str:
        return "ran"

    llmgine_bus.register_command(Unlimited, unlimited)
    llmgine_bus.add_command_middleware(Timeout(1))
    assert asyncio.run(llmgine_bus.dispatch_async(Unlimited())) == "ran"
