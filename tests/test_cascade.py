"""Runaway cascades of events causing events stop at max_cascade_depth."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from llmgine.messages import EventCascadeError
from llmgine.messages.bus import DEFAULT_MAX_CASCADE_DEPTH, MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event
from llmgine.middleware import Next


@dataclasses.dataclass
class Tick(Event):
    event_type = "test.tick"
    n: int


@dataclasses.dataclass
class Echo(Event):
    event_type = "test.echo"
    n: int


@dataclasses.dataclass
class Start(Command[None]):
    pass


def test_the_default_depth_is_documented() -> None:
    assert DEFAULT_MAX_CASCADE_DEPTH == 100
    assert MessageBus.isolated().max_cascade_depth == 100


def test_a_queuing_loop_stops_with_a_clear_error() -> None:
    bus = MessageBus.isolated(max_cascade_depth=5)
    seen: list[int] = []

    def again(event: Tick) -> None:
        seen.append(event.n)
        bus.add_pending_event(Tick(n=event.n + 1))

    bus.subscribe_event(Tick, again)
    with pytest.raises(EventCascadeError) as info:
        bus.emit(Tick(n=1))
    assert seen == [1, 2, 3, 4, 5]
    message = str(info.value)
    assert "'test.tick'" in message
    assert "max_cascade_depth" in message
    assert "more than 5 generations" in message


def test_a_cascade_within_the_limit_completes() -> None:
    bus = MessageBus.isolated(max_cascade_depth=5)
    seen: list[int] = []

    def until_five(event: Tick) -> None:
        seen.append(event.n)
        if event.n < 5:
            bus.add_pending_event(Tick(n=event.n + 1))

    bus.subscribe_event(Tick, until_five)
    bus.emit(Tick(n=1))
    assert seen == [1, 2, 3, 4, 5]


def test_a_dispatched_loop_counts_its_handlers_events_as_the_first_generation() -> None:
    bus = MessageBus.isolated(max_cascade_depth=3)
    seen: list[int] = []

    def start(command: Start) -> None:
        bus.add_pending_event(Tick(n=1))

    def again(event: Tick) -> None:
        seen.append(event.n)
        bus.add_pending_event(Tick(n=event.n + 1))

    bus.register_command(Start, start)
    bus.subscribe_event(Tick, again)
    with pytest.raises(EventCascadeError):
        bus.dispatch(Start())
    assert seen == [1, 2, 3]


def test_a_recursive_emit_loop_raises_to_the_caller_not_into_subscriber_isolation() -> None:
    """emit() from a subscriber recurses; the error must not be taken for a subscriber failure."""
    bus = MessageBus.isolated(max_cascade_depth=10)
    seen: list[int] = []
    reports: list[Event] = []

    def again(event: Tick) -> None:
        seen.append(event.n)
        bus.emit(Tick(n=event.n + 1))

    bus.subscribe_event("system.**", reports.append)
    bus.subscribe_event(Tick, again)
    with pytest.raises(EventCascadeError):
        bus.emit(Tick(n=1))
    assert seen == list(range(1, 11))
    assert reports == []


def test_a_recursive_dispatch_loop_raises_to_the_caller() -> None:
    bus = MessageBus.isolated(max_cascade_depth=10)
    seen: list[int] = []

    def start(command: Start) -> None:
        bus.add_pending_event(Tick(n=len(seen)))

    def again(event: Tick) -> None:
        seen.append(event.n)
        bus.dispatch(Start())

    bus.register_command(Start, start)
    bus.subscribe_event(Tick, again)
    with pytest.raises(EventCascadeError):
        bus.dispatch(Start())
    assert len(seen) == 10


def test_an_async_loop_stops_with_a_clear_error() -> None:
    bus = MessageBus.isolated(max_cascade_depth=4)
    seen: list[int] = []

    async def again(event: Tick) -> None:
        seen.append(event.n)
        await asyncio.sleep(0)
        bus.add_pending_event(Tick(n=event.n + 1))

    bus.subscribe_event(Tick, again)
    with pytest.raises(EventCascadeError):
        asyncio.run(bus.emit_async(Tick(n=1)))
    assert seen == [1, 2, 3, 4]


def test_a_recursive_emit_async_loop_raises_to_the_caller() -> None:
    bus = MessageBus.isolated(max_cascade_depth=4)
    seen: list[int] = []

    async def again(event: Tick) -> None:
        seen.append(event.n)
        await asyncio.sleep(0)
        await bus.emit_async(Tick(n=event.n + 1))

    bus.subscribe_event(Tick, again)
    with pytest.raises(EventCascadeError):
        asyncio.run(bus.emit_async(Tick(n=1)))
    assert seen == [1, 2, 3, 4]


def test_a_loop_started_by_a_plain_subscriber_stops_emit_async_and_its_started_tasks() -> None:
    bus = MessageBus.isolated(max_cascade_depth=5)

    async def waits(event: Tick) -> None:
        await asyncio.sleep(3600)

    bus.subscribe_event(Tick, waits)  # its task is started before the loop breaks
    bus.subscribe_event(Tick, lambda e: bus.emit(Echo(n=1)))
    bus.subscribe_event(Echo, lambda e: bus.emit(Echo(n=e.n + 1)))

    async def main() -> list[asyncio.Task[object]]:
        with pytest.raises(EventCascadeError, match=r"test\.echo"):
            await bus.emit_async(Tick(n=1))
        await asyncio.sleep(0)
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(main()) == []  # the subscriber task was cancelled, not left behind


@pytest.mark.parametrize("use_async", [False, True])
def test_a_failure_at_the_deepest_allowed_generation_is_reported_not_a_cascade(
    use_async: bool,
) -> None:
    # The report of a failure is not a generation of events-causing-events: with
    # anything subscribed to every event (a tracer, an EventRecorder), a failure on
    # the last allowed generation must still be reported, not stop the emit.
    bus = MessageBus.isolated(max_cascade_depth=2)
    seen: list[str] = []
    bus.subscribe_event(Tick, lambda e: bus.add_pending_event(Echo(n=e.n + 1)))

    def fail(event: Echo) -> None:
        raise RuntimeError("echo failed")

    bus.subscribe_event(Echo, fail)
    bus.subscribe_event("*", lambda e: seen.append(e.event_type))
    if use_async:
        asyncio.run(bus.emit_async(Tick(n=1)))  # Echo is generation 2, the last allowed
    else:
        bus.emit(Tick(n=1))
    assert seen == ["test.tick", "test.echo", "system.bus.error"]


def test_a_loop_through_failure_reports_still_stops() -> None:
    bus = MessageBus.isolated(max_cascade_depth=5)

    def fail(event: Tick) -> None:
        raise RuntimeError("tick failed")

    bus.subscribe_event(Tick, fail)
    bus.subscribe_event("system.bus.error", lambda e: bus.add_pending_event(Tick(n=0)))
    with pytest.raises(EventCascadeError):
        bus.emit(Tick(n=1))


def _runaway_through_middleware(bus: MessageBus, layers: int) -> None:
    def passing(message: Event, call_next: Next[Event]) -> Any:
        return call_next(message)

    for _ in range(layers):  # each layer costs stack frames per generation
        bus.add_event_middleware(passing)


def test_a_sync_loop_that_hits_the_recursion_limit_first_raises_event_cascade_error() -> None:
    bus = MessageBus.isolated(max_cascade_depth=DEFAULT_MAX_CASCADE_DEPTH)
    _runaway_through_middleware(bus, 6)
    reports: list[Event] = []
    bus.subscribe_event("system.bus.error", reports.append)
    bus.subscribe_event(Echo, lambda e: bus.emit(Echo(n=e.n + 1)))
    with (
        sys_recursion_limit(400),
        pytest.raises(EventCascadeError, match=r"recursion limit") as info,
    ):
        bus.emit(Echo(n=1))
    assert "test.echo" in str(info.value)
    assert isinstance(info.value.__cause__, RecursionError)
    assert reports == []  # not swallowed as a subscriber failure


def test_an_async_emit_over_a_sync_loop_that_hits_the_recursion_limit_raises() -> None:
    bus = MessageBus.isolated(max_cascade_depth=DEFAULT_MAX_CASCADE_DEPTH)
    _runaway_through_middleware(bus, 6)
    bus.subscribe_event(Tick, lambda e: bus.emit(Echo(n=1)))
    bus.subscribe_event(Echo, lambda e: bus.emit(Echo(n=e.n + 1)))
    with sys_recursion_limit(400), pytest.raises(EventCascadeError, match=r"recursion limit"):
        asyncio.run(bus.emit_async(Tick(n=1)))


@contextlib.contextmanager
def sys_recursion_limit(limit: int) -> Iterator[None]:
    """A low recursion limit, so the loop hits it long before depth 100 (and quickly)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
