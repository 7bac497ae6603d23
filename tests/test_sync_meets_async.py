"""Sync dispatch/emit meeting async handlers: a clear error, never an un-awaited coroutine."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import warnings
from collections.abc import Iterator

import pytest
from llmgine.messages import AsyncHandlerError, SubscriberError
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


@pytest.fixture
def no_unawaited_coroutines() -> Iterator[list[warnings.WarningMessage]]:
    """Fail the test if any coroutine is garbage-collected without being awaited."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
        gc.collect()
    never_awaited = [w for w in caught if "never awaited" in str(w.message)]
    assert never_awaited == []


def test_sync_dispatch_of_an_async_handler_raises_without_creating_a_coroutine(
    bus: MessageBus, no_unawaited_coroutines: list[warnings.WarningMessage]
) -> None:
    calls: list[str] = []

    async def handler(command: Ask) -> str:
        calls.append("ran")
        return "x"

    bus.register_command(Ask, handler)
    with pytest.raises(AsyncHandlerError, match=r"dispatch_async") as info:
        bus.dispatch(Ask())
    assert "handler" in str(info.value)
    assert "Ask" in str(info.value)
    assert calls == []


def test_sync_dispatch_of_a_plain_callable_returning_a_coroutine_closes_it(
    bus: MessageBus, no_unawaited_coroutines: list[warnings.WarningMessage]
) -> None:
    seen: list[str] = []
    bus.subscribe_event(Said, lambda e: seen.append(e.text))

    async def work(command: Ask) -> str:
        return "x"

    def handler(command: Ask):  # type: ignore[no-untyped-def]
        bus.add_pending_event(Said(text="dropped"))
        return work(command)

    bus.register_command(Ask, handler)
    with pytest.raises(AsyncHandlerError, match="returned a coroutine"):
        bus.dispatch(Ask())
    assert seen == []


def test_sync_emit_with_an_async_subscriber_raises_before_any_subscriber_runs(
    bus: MessageBus, no_unawaited_coroutines: list[warnings.WarningMessage]
) -> None:
    seen: list[str] = []

    async def async_subscriber(event: Said) -> None:
        seen.append("async")

    bus.subscribe_event(Said, lambda e: seen.append("plain"))
    bus.subscribe_event(Said, async_subscriber)
    with pytest.raises(AsyncHandlerError, match=r"emit_async") as info:
        bus.emit(Said(text="x"))
    assert "async_subscriber" in str(info.value)
    assert seen == []


def test_sync_emit_with_a_plain_subscriber_returning_a_coroutine_isolates_it(
    bus: MessageBus, no_unawaited_coroutines: list[warnings.WarningMessage]
) -> None:
    reports: list[SystemEvent] = []

    async def work(event: Said) -> None:
        pass

    bus.subscribe_event("system.bus.error", reports.append)
    bus.subscribe_event(Said, lambda e: work(e))
    bus.emit(Said(text="x"))
    [report] = reports
    assert "returned a coroutine" in report.details["error"]


def test_async_callable_instances_are_recognised(
    bus: MessageBus, no_unawaited_coroutines: list[warnings.WarningMessage]
) -> None:
    class Handler:
        async def __call__(self, command: Ask) -> str:
            return "instance"

    bus.register_command(Ask, Handler())
    with pytest.raises(AsyncHandlerError):
        bus.dispatch(Ask())
    assert asyncio.run(bus.dispatch_async(Ask())) == "instance"


@dataclasses.dataclass
class Later(Event):
    event_type = "test.later"


@pytest.mark.parametrize("strict", [False, True])
def test_sync_dispatch_publishes_every_queued_event_around_one_with_an_async_subscriber(
    strict: bool, no_unawaited_coroutines: list[warnings.WarningMessage]
) -> None:
    bus = MessageBus.isolated(strict=strict)
    got: list[str] = []
    reports: list[SystemEvent] = []

    async def slow(event: Event) -> None:
        got.append("async ran")

    bus.subscribe_event(Said, slow)
    bus.subscribe_event(Said, lambda e: got.append("said"))
    bus.subscribe_event(Later, lambda e: got.append("later"))
    bus.subscribe_event("system.bus.error", reports.append)

    def handler(command: Ask) -> str:
        bus.add_pending_event(Said(text="1"))
        bus.add_pending_event(Later())
        got.append("handler")
        return "done"

    bus.register_command(Ask, handler)
    if strict:  # a failed subscriber raises after the event's other subscribers ran
        with pytest.raises(SubscriberError) as info:
            bus.dispatch(Ask())
        assert isinstance(info.value.exceptions[0], AsyncHandlerError)
        assert got == ["handler", "said"]
        return
    assert bus.dispatch(Ask()) == "done"  # the handler succeeded: no exception says otherwise
    assert got == ["handler", "said", "later"]  # nothing after the event is dropped
    assert [r.details["error_type"] for r in reports] == [
        "llmgine.messages.errors.AsyncHandlerError"
    ]
    assert "slow" in reports[0].details["subscriber"]
    assert "dispatch_async" in reports[0].details["error"]


def test_sync_emit_of_an_event_with_an_async_subscriber_still_raises_before_any_runs(
    bus: MessageBus, no_unawaited_coroutines: list[warnings.WarningMessage]
) -> None:
    got: list[str] = []

    async def slow(event: Event) -> None:
        got.append("async ran")

    bus.subscribe_event(Said, lambda e: got.append("plain"))
    bus.subscribe_event(Said, slow)
    with pytest.raises(AsyncHandlerError, match=r"emit_async"):
        bus.emit(Said(text="x"))
    assert got == []
