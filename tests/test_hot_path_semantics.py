"""Semantics the bus's fast paths must keep (guards for the performance work of issue 4).

Each test pins a behaviour that an optimisation of dispatch, emit, delivery or
message construction could silently break.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import os
import pickle
import sys
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from llmgine.messages import (
    AsyncHandlerError,
    Command,
    Event,
    EventCascadeError,
    MessageBus,
    NoActiveScopeError,
    SubscriberError,
    SystemEvent,
    message_bus,
)
from llmgine.messages.events import ResourceCreatedEvent


@dataclass
class Do(Command[Any]):
    value: Any = None


@dataclass
class Happened(Event):
    event_type = "hot.happened"
    n: int = 0


@attrs.frozen
class Frozen(Event):
    event_type = "hot.frozen"
    a: int
    b: int
    c: int


@pytest.fixture
def bus() -> MessageBus:
    return MessageBus.isolated()


def test_dispatch_publishes_queued_events_in_order_before_returning(bus: MessageBus) -> None:
    seen: list[int] = []

    def handle(command: Do) -> str:
        for n in (1, 2, 3):
            message_bus.add_pending_event(Happened(n))  # the global bus joins this dispatch
        assert seen == []
        return "done"

    bus.register_command(Do, handle)
    bus.subscribe_event("hot.happened", lambda e: seen.append(e.n))
    assert bus.dispatch(Do()) == "done"
    assert seen == [1, 2, 3]


def test_failed_handler_drops_its_events_and_raises_unchanged(bus: MessageBus) -> None:
    seen: list[Event] = []
    boom = ValueError("boom")

    def handle(command: Do) -> None:
        bus.add_pending_event(Happened(1))
        raise boom

    bus.register_command(Do, handle)
    bus.subscribe_event("*", seen.append)
    with pytest.raises(ValueError, match="boom") as caught:
        bus.dispatch(Do())
    assert caught.value is boom
    bus.register_command(Command, lambda c: None)
    bus.dispatch(Command())
    assert seen == []


def test_breadth_first_cascade_and_causation(bus: MessageBus) -> None:
    order: list[str] = []
    command = Do()

    def first(event: Happened) -> None:
        order.append(f"first{event.n}")
        if event.n < 3:
            bus.add_pending_event(Happened(event.n + 10))

    bus.register_command(Do, lambda c: [bus.add_pending_event(Happened(n)) for n in (1, 2)])
    bus.subscribe_event(Happened, first)
    bus.subscribe_event("hot.*", lambda e: order.append(f"second{e.n}"))
    bus.dispatch(command)
    assert order == [
        *("first1", "second1", "first2", "second2"),
        *("first11", "second11", "first12", "second12"),
    ]
    assert command.correlation_id == command.command_id


def test_correlation_and_causation_ids(bus: MessageBus) -> None:
    events: list[Event] = []
    command = Do()
    bus.register_command(Do, lambda c: bus.add_pending_event(Happened(1)))
    bus.subscribe_event("hot.happened", events.append)
    bus.dispatch(command)
    (queued,) = events
    assert queued.correlation_id == command.command_id
    assert queued.causation_id == command.command_id

    alone = Happened(2)
    bus.emit(alone)
    assert alone.correlation_id == alone.event_id
    assert alone.causation_id is None


def test_subscriber_failure_is_isolated_reported_and_its_events_dropped(
    bus: MessageBus, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    reports: list[SystemEvent] = []

    def bad(event: Event) -> None:
        bus.add_pending_event(Happened(99))
        raise RuntimeError("bad subscriber")

    def good(event: Happened) -> None:
        seen.append(f"good{event.n}")
        if event.n == 1:
            bus.add_pending_event(Happened(2))

    bus.subscribe_event("hot.happened", bad)
    bus.subscribe_event("hot.happened", good)
    bus.subscribe_event("system.bus.error", reports.append)
    bus.emit(Happened(1))
    assert seen == ["good1", "good2"]  # 99 was dropped with its failed subscriber
    assert [r.details["subscriber"] for r in reports] == [
        "tests.test_hot_path_semantics.test_subscriber_failure_is_isolated_reported_and_its_"
        "events_dropped.<locals>.bad"
    ] * 2
    assert "bad subscriber" in caplog.text


def test_strict_mode_raises_after_every_subscriber_ran() -> None:
    bus = MessageBus.isolated(strict=True)
    ran: list[str] = []

    def bad(event: Event) -> None:
        ran.append("bad")
        raise RuntimeError("x")

    bus.subscribe_event("hot.happened", bad)
    bus.subscribe_event("hot.happened", lambda e: ran.append("after"))
    with pytest.raises(SubscriberError):
        bus.emit(Happened())
    assert ran == ["bad", "after"]


def test_each_subscriber_gets_an_event_once_in_subscription_order(bus: MessageBus) -> None:
    got: list[str] = []

    def a(event: Event) -> None:
        got.append("a")

    def b(event: Event) -> None:
        got.append("b")

    bus.subscribe_event("hot.**", b)
    bus.subscribe_event(Happened, a)
    bus.subscribe_event("hot.happened", b)
    bus.subscribe_event("*", a)
    bus.emit(Happened())
    assert got == ["b", "a"]
    with bus.subscribe_event("hot.*", lambda e: got.append("c")):
        bus.emit(Happened())
    bus.emit(Happened())
    assert got == ["b", "a", "b", "a", "c", "b", "a"]


def test_sync_emit_refuses_async_subscribers_and_closes_returned_coroutines(
    bus: MessageBus,
) -> None:
    async def asub(event: Event) -> None:
        return None

    ran: list[str] = []
    with bus.subscribe_event("hot.happened", lambda e: ran.append("sync")):
        with bus.subscribe_event("hot.happened", asub), pytest.raises(AsyncHandlerError):
            bus.emit(Happened())
        assert ran == []  # refused before any subscriber ran

    strict = MessageBus.isolated(strict=True)
    strict.subscribe_event("hot.happened", lambda e: asub(e))  # returns a coroutine
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an un-awaited coroutine would warn
        with pytest.raises(SubscriberError, match="coroutine"):
            strict.emit(Happened())
        gc.collect()


def test_add_pending_event_outside_a_handler_points_to_emit(bus: MessageBus) -> None:
    with pytest.raises(NoActiveScopeError, match="emit"):
        bus.add_pending_event(Happened())


def test_runaway_cascade_stops_with_a_clear_error() -> None:
    bus = MessageBus.isolated(max_cascade_depth=5)
    bus.subscribe_event("hot.happened", lambda e: bus.add_pending_event(Happened(e.n + 1)))
    with pytest.raises(EventCascadeError, match="generations"):
        bus.emit(Happened())


def test_async_paths(bus: MessageBus) -> None:
    order: list[str] = []

    async def quick(event: Happened) -> None:
        order.append(f"quick{event.n}")
        if event.n == 1:
            bus.add_pending_event(Happened(2))

    async def slow(event: Happened) -> None:
        order.append(f"slow-start{event.n}")
        await asyncio.sleep(0)
        order.append(f"slow-end{event.n}")

    async def handle(command: Do) -> int:
        await asyncio.sleep(0)
        bus.add_pending_event(Happened(1))
        return 7

    bus.register_command(Do, handle)
    bus.subscribe_event("hot.happened", slow)
    bus.subscribe_event("hot.happened", quick)
    bus.subscribe_event("hot.happened", lambda e: order.append(f"sync{e.n}"))
    assert asyncio.run(bus.dispatch_async(Do())) == 7
    # async subscribers start in subscription order and run concurrently (slow suspends,
    # quick goes on); generation 2 comes after. On 3.12+ their tasks start eagerly, so
    # the plain one runs in its subscription turn; on 3.11 it runs before their bodies.
    if sys.version_info >= (3, 12):
        generation = ("slow-start{n}", "quick{n}", "sync{n}", "slow-end{n}")
    else:
        generation = ("sync{n}", "slow-start{n}", "quick{n}", "slow-end{n}")
    assert order == [step.format(n=n) for n in (1, 2) for step in generation]
    with pytest.raises(AsyncHandlerError, match="dispatch_async"):
        bus.dispatch(Do())


def test_cancelled_dispatch_async_publishes_nothing(bus: MessageBus) -> None:
    seen: list[Event] = []

    async def handle(command: Do) -> None:
        bus.add_pending_event(Happened())
        await asyncio.sleep(10)

    bus.register_command(Do, handle)
    bus.subscribe_event("*", seen.append)

    async def main() -> None:
        task = asyncio.ensure_future(bus.dispatch_async(Do()))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen == []


@pytest.mark.parametrize("make", [lambda: Happened(1), lambda: Frozen(1, 2, 3), Do])
def test_messages_get_unique_ids_and_aware_timestamps(make: Any) -> None:
    first, second = make(), make()
    ids = [getattr(m, "event_id", None) or m.command_id for m in (first, second)]
    assert len(set(ids)) == 2
    assert all(isinstance(i, str) and i for i in ids)
    if isinstance(first, Event):
        now = datetime.now(UTC)
        assert first.timestamp.tzinfo is not None
        assert abs(first.timestamp - now) < timedelta(seconds=5)
        assert first.timestamp <= second.timestamp
        assert first.timestamp is first.timestamp  # stable, even if it is computed lazily


def test_core_event_copies_keep_ids_and_timestamps() -> None:
    stamp = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    event = ResourceCreatedEvent(resource_id="r", resource_type="t", event_id="e1", timestamp=stamp)
    assert (event.event_id, event.timestamp) == ("e1", stamp)
    made = ResourceCreatedEvent(resource_id="r", resource_type="t")
    for clone in (pickle.loads(pickle.dumps(made)), copy.copy(made), attrs.evolve(made)):
        assert clone == made
        assert (clone.event_id, clone.timestamp) == (made.event_id, made.timestamp)
    with pytest.raises(TypeError, match="timezone-aware"):
        ResourceCreatedEvent(resource_id="r", resource_type="t", timestamp=datetime(2024, 1, 1))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_ids_stay_unique_after_fork() -> None:
    read, write = os.pipe()
    before = Happened().event_id
    pid = os.fork()
    if pid == 0:  # child
        os.write(write, Happened().event_id.encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 200).decode()
    parent = Happened().event_id
    assert len({before, child, parent}) == 3
    assert child.rsplit("-", 1)[0] != parent.rsplit("-", 1)[0]


def test_async_subscriber_can_await_a_suspending_nested_dispatch() -> None:
    # Its first step runs eagerly; the context-variable token the nested dispatch
    # makes there must still be valid when it resumes in its task.
    bus = MessageBus.isolated(strict=True)
    results: list[int] = []

    async def handle(command: Do) -> int:
        await asyncio.sleep(0)
        bus.add_pending_event(Happened(5))
        return 1

    async def subscriber(event: Happened) -> None:
        if event.n == 0:
            results.append(await bus.dispatch_async(Do()))

    bus.register_command(Do, handle)
    bus.subscribe_event("hot.happened", subscriber)
    bus.subscribe_event("hot.happened", lambda e: results.append(e.n))
    asyncio.run(bus.emit_async(Happened(0)))
    assert results == [0, 5, 1]


class Start(Event):
    event_type = "hot.start"


def test_async_subscribers_keep_their_events_apart_and_in_order() -> None:
    bus = MessageBus.isolated()
    published: list[int] = []

    async def suspends_then_queues(event: Start) -> None:
        bus.add_pending_event(Happened(11))
        await asyncio.sleep(0)
        bus.add_pending_event(Happened(12))

    async def quick(event: Start) -> None:
        bus.add_pending_event(Happened(21))

    async def fails_after_suspending(event: Start) -> None:
        bus.add_pending_event(Happened(31))
        await asyncio.sleep(0)
        raise RuntimeError("late failure")

    async def fails_at_once(event: Start) -> None:
        bus.add_pending_event(Happened(41))
        raise RuntimeError("early failure")

    def plain(event: Start) -> None:
        bus.add_pending_event(Happened(51))

    for subscriber in (suspends_then_queues, fails_at_once, quick, fails_after_suspending, plain):
        bus.subscribe_event("hot.start", subscriber)
    bus.subscribe_event("hot.happened", lambda e: published.append(e.n) if e.n > 10 else None)
    asyncio.run(bus.emit_async(Start()))
    # in subscription order; the two failed subscribers' events are dropped
    assert published == [11, 12, 21, 51]


def test_async_subscriber_context_changes_do_not_leak_to_the_caller() -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("hot_var", default="caller")
    bus = MessageBus.isolated(strict=True)
    seen: list[str] = []

    async def setter(event: Event) -> None:
        var.set("subscriber")

    bus.subscribe_event("hot.happened", setter)

    async def main() -> None:
        await bus.emit_async(Happened())
        seen.append(var.get())

    asyncio.run(main())
    assert seen == ["caller"]


def test_a_timestamp_read_late_is_still_the_creation_time() -> None:
    before = datetime.now(UTC)
    event = Happened(1)
    after = datetime.now(UTC)
    import time

    time.sleep(0.01)
    stamp = event.timestamp
    assert isinstance(stamp, datetime)
    assert stamp.tzinfo is not None
    assert before - timedelta(microseconds=1) <= stamp <= after
    assert event.timestamp is stamp
    for clone in (copy.copy(event), pickle.loads(pickle.dumps(event))):
        assert (clone.event_id, clone.timestamp) == (event.event_id, stamp)
    fresh = Happened(2)
    assert pickle.loads(pickle.dumps(fresh)).timestamp == fresh.timestamp


def test_cancelling_emit_async_wins_even_if_a_subscriber_swallows_it() -> None:
    bus = MessageBus.isolated()
    published: list[Event] = []
    stopped: list[str] = []

    async def stubborn(event: Happened) -> None:
        bus.add_pending_event(Happened(9))
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            stopped.append("stubborn")  # swallows the cancellation and returns

    async def patient(event: Happened) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            stopped.append("patient")
            raise

    bus.subscribe_event(Happened, stubborn)
    bus.subscribe_event(Happened, patient)
    bus.subscribe_event("hot.happened", published.append)

    async def main() -> None:
        emitting = asyncio.ensure_future(bus.emit_async(Happened(1)))
        await asyncio.sleep(0.01)
        emitting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await emitting

    asyncio.run(main())
    assert sorted(stopped) == ["patient", "stubborn"]
    assert [e.n for e in published] == [1]  # the 9 stubborn queued is not published


def test_emit_async_plain_subscribers_keep_their_events_apart() -> None:
    bus = MessageBus.isolated()
    published: list[int] = []

    def first(event: Start) -> None:
        bus.add_pending_event(Happened(1))

    def failing(event: Start) -> None:
        bus.add_pending_event(Happened(2))
        raise RuntimeError("plain failure")

    async def later(event: Start) -> None:
        await asyncio.sleep(0)
        bus.add_pending_event(Happened(3))

    def last(event: Start) -> None:
        bus.add_pending_event(Happened(4))

    bus.subscribe_event("hot.start", first)
    bus.subscribe_event("hot.start", failing)
    bus.subscribe_event("hot.start", lambda e: later(e))  # plain, returns a coroutine
    bus.subscribe_event("hot.start", last)
    bus.subscribe_event("hot.happened", lambda e: published.append(e.n))
    asyncio.run(bus.emit_async(Start()))
    assert published == [1, 3, 4]
