"""Subscribers' BaseException policy, on every path.

Every exception but ``KeyboardInterrupt``, ``SystemExit`` and cancellation is the
subscriber's failure, isolated like an ``Exception``: the other subscribers run, it is
logged and reported (strict buses raise ``SubscriberError``). Those three propagate,
after the delivery's scope is closed and its subscriber tasks are cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from llmgine.messages import (
    Command,
    Event,
    MessageBus,
    SubscriberBaseExceptionError,
    SubscriberError,
)
from llmgine.messages._scope import Scope, get_scope
from llmgine.messages.events import SystemEvent


class Said(Event):
    event_type = "test.said"

    def __init__(self, text: str) -> None:
        self.text = text


class Say(Command[str]):
    def __init__(self, text: str) -> None:
        self.text = text


class Custom(BaseException):
    """A BaseException of the application's own, not an Exception."""


ISOLATED: list[Callable[[], BaseException]] = [lambda: Custom("mine"), GeneratorExit]
PROPAGATING: list[Callable[[], BaseException]] = [
    KeyboardInterrupt,
    lambda: SystemExit(3),
    asyncio.CancelledError,
]
ISOLATED_IDS = ["custom", "GeneratorExit"]
PROPAGATING_IDS = ["KeyboardInterrupt", "SystemExit", "CancelledError"]

#: How the event reaches the subscribers: (publish it, whether its subscriber is async)
PATHS = ["emit", "dispatch", "emit_async/plain", "emit_async/async", "dispatch_async/async"]


def publish(bus: MessageBus, path: str, raises: BaseException, seen: list[str]) -> None:
    """Subscribe a raiser (queuing an event first), then a second subscriber; publish."""
    scopes: list[Scope | None] = []

    def raiser(event: Said) -> None:
        scopes.append(get_scope())
        bus.add_pending_event(Said(text="from the raiser"))
        raise raises

    async def araiser(event: Said) -> None:
        raiser(event)

    def after(event: Said) -> None:
        seen.append(event.text)

    bus.subscribe_event(Said, araiser if path.endswith("/async") else raiser)
    bus.subscribe_event(Said, after)
    bus.register_command(Say, lambda c: bus.add_pending_event(Said(text=c.text)) or "ok")

    async def main() -> None:
        if path.startswith("dispatch_async"):
            await bus.dispatch_async(Say(text="x"))
        else:
            await bus.emit_async(Said(text="x"))

    try:
        if path == "emit":
            bus.emit(Said(text="x"))
        elif path == "dispatch":
            bus.dispatch(Say(text="x"))
        else:
            asyncio.run(main())
    finally:
        seen.extend(f"scope closed: {s is not None and s.closed}" for s in scopes)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("make", ISOLATED, ids=ISOLATED_IDS)
def test_a_base_exception_is_the_subscribers_failure(
    path: str, make: Callable[[], BaseException], caplog: pytest.LogCaptureFixture, bus: MessageBus
) -> None:
    reports: list[SystemEvent] = []
    bus.subscribe_event("system.bus.error", reports.append)
    seen: list[str] = []
    raised = make()
    with caplog.at_level(logging.ERROR, logger="llmgine.bus"):
        publish(bus, path, raised, seen)
    # the other subscriber ran; the raiser's queued event was dropped
    assert seen == ["x", "scope closed: True"]
    [report] = reports
    assert report.details["error_type"].endswith("SubscriberBaseExceptionError")
    assert repr(raised) in report.details["error"]
    assert report.details["subscriber"].endswith("raiser")
    [record] = caplog.records
    assert record.exc_info is not None
    assert record.exc_info[1].__cause__ is raised


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("make", ISOLATED, ids=ISOLATED_IDS)
def test_a_strict_bus_raises_it_as_a_subscriber_error(
    path: str, make: Callable[[], BaseException], llmgine_bus: MessageBus
) -> None:
    seen: list[str] = []
    raised = make()
    with pytest.raises(SubscriberError) as caught:
        publish(llmgine_bus, path, raised, seen)
    assert seen == ["x", "scope closed: True"]
    [error] = caught.value.exceptions
    assert isinstance(error, SubscriberBaseExceptionError)
    assert error.__cause__ is raised
    assert error.subscriber.endswith("raiser")
    assert "Raise an Exception subclass" in str(error)


@pytest.mark.parametrize(
    ("make", "path"),
    [
        pytest.param(make, path, id=f"{name}-{path}")
        for make, name in zip(PROPAGATING, PROPAGATING_IDS, strict=True)
        for path in PATHS
        # (an async subscriber's own cancellation is its failure: see test_async.py)
        if not (make is asyncio.CancelledError and path.endswith("/async"))
    ],
)
def test_interrupts_exits_and_cancellation_propagate_after_cleanup(
    path: str, make: Callable[[], BaseException], bus: MessageBus
) -> None:
    reports: list[SystemEvent] = []
    bus.subscribe_event("system.bus.error", reports.append)
    seen: list[str] = []
    raised = make()
    with pytest.raises(type(raised)):
        publish(bus, path, raised, seen)
    # the delivery stopped at the raiser: nothing after it ran (an async raiser's task
    # may start after the plain subscriber on Python 3.11), its event was not
    # published, nothing was reported, and the scope it ran in is closed (no later
    # add_pending_event can land in it)
    expected = ["scope closed: True"]
    assert seen in ([expected, ["x", *expected]] if path.endswith("/async") else [expected])
    assert reports == []
    assert get_scope() is None


@pytest.mark.parametrize("make", PROPAGATING, ids=PROPAGATING_IDS)
def test_propagating_leaves_no_subscriber_task_running(
    make: Callable[[], BaseException], bus: MessageBus
) -> None:
    scopes: list[Scope | None] = []

    async def waits(event: Said) -> None:
        scopes.append(get_scope())
        await asyncio.Event().wait()

    raised = make()

    def raiser(event: Said) -> None:
        raise raised

    bus.subscribe_event(Said, waits)
    bus.subscribe_event(Said, raiser)

    async def main() -> list[asyncio.Task[Any]]:
        with pytest.raises(type(raised)):
            await bus.emit_async(Said(text="x"))
        await asyncio.sleep(0)  # let the cancelled subscriber task finish
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(main()) == []
    # (on 3.11 the task was cancelled before its first step, so it has no scope to close)
    assert all(s is not None and s.closed for s in scopes)


@pytest.mark.parametrize("make", ISOLATED, ids=ISOLATED_IDS)
def test_an_async_subscriber_that_suspends_first_is_isolated_too(
    make: Callable[[], BaseException], llmgine_bus: MessageBus
) -> None:
    """Raised after a suspension: read from the finished task, not at its start."""
    bus = llmgine_bus
    seen: list[str] = []

    async def raiser(event: Said) -> None:
        await asyncio.sleep(0)
        raise make()

    async def after(event: Said) -> None:
        await asyncio.sleep(0)
        seen.append(event.text)

    bus.subscribe_event(Said, raiser)
    bus.subscribe_event(Said, after)
    with pytest.raises(SubscriberError) as caught:
        asyncio.run(bus.emit_async(Said(text="x")))
    assert seen == ["x"]
    assert isinstance(caught.value.exceptions[0], SubscriberBaseExceptionError)


def test_deliver_returns_a_base_exception_as_a_failure(llmgine_bus: MessageBus) -> None:
    """A transport's deliver() reports it like any failure, for a retry of that subscriber."""
    bus = llmgine_bus

    def raiser(event: Said) -> None:
        raise Custom("mine")

    bus.subscribe_event(Said, raiser)
    [(subscriber, error)] = bus.deliver(Said(text="x"))
    assert subscriber.handler is raiser
    assert isinstance(error, SubscriberBaseExceptionError)
    assert isinstance(error.__cause__, Custom)
