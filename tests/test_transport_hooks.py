"""The bus's transport hooks: an outbox for outgoing events, deliver() for incoming ones."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.errors import AsyncHandlerError
from llmgine.messages.events import Event, ResourceCreatedEvent, ResourceDeletedEvent, SystemEvent


class Recorder:
    """An outbox that records what it is given, and the order of everything."""

    def __init__(self, log: list[Any], fail: bool = False) -> None:
        self.log = log
        self.fail = fail

    def send(self, events: Sequence[Event]) -> None:
        if self.fail:
            raise ConnectionError("transport down")
        self.log.append(("send", [e.event_type for e in events]))

    async def send_async(self, events: Sequence[Event]) -> None:
        self.send(events)


class Make(Command[None]):
    pass


def created(n: int) -> ResourceCreatedEvent:
    return ResourceCreatedEvent(resource_id=f"r{n}", resource_type="t")


def deleted() -> ResourceDeletedEvent:
    return ResourceDeletedEvent(resource_id="r", resource_type="t")


def test_dispatch_hands_each_generation_to_the_outbox_before_local_delivery(bus: MessageBus):
    log: list[Any] = []
    bus.attach_outbox(Recorder(log))

    def handler(cmd: Make) -> None:
        bus.add_pending_event(created(1))
        bus.add_pending_event(created(2))

    def on_created(event: ResourceCreatedEvent) -> None:
        log.append(("local", event.resource_id))
        if event.resource_id == "r1":
            bus.add_pending_event(deleted())

    bus.register_command(Make, handler)
    bus.subscribe_event("resource.created", on_created)
    bus.subscribe_event("resource.deleted", lambda e: log.append(("local", "deleted")))
    bus.dispatch(Make())
    assert log == [
        ("send", ["resource.created", "resource.created"]),
        ("local", "r1"),
        ("local", "r2"),
        ("send", ["resource.deleted"]),
        ("local", "deleted"),
    ]


def test_emit_refuses_an_async_subscriber_before_the_outbox_sends_the_event(
    bus: MessageBus,
) -> None:
    """A failed emit() must not have sent the event: its caller may retry it."""
    log: list[Any] = []
    bus.attach_outbox(Recorder(log))

    async def on_deleted(event: ResourceDeletedEvent) -> None:
        log.append(("local", "async"))

    bus.subscribe_event("resource.deleted", lambda e: log.append(("local", "plain")))
    bus.subscribe_event("resource.deleted", on_deleted)
    with pytest.raises(AsyncHandlerError, match="emit_async"):
        bus.emit(deleted())
    assert log == []
    asyncio.run(bus.emit_async(deleted()))
    assert log == [("send", ["resource.deleted"]), ("local", "plain"), ("local", "async")]


def test_outbox_failure_fails_the_dispatch_and_nothing_is_delivered(bus: MessageBus):
    seen: list[Event] = []
    bus.attach_outbox(Recorder([], fail=True))
    bus.register_command(Make, lambda cmd: bus.add_pending_event(created(1)))
    bus.subscribe_event("*", seen.append)
    with pytest.raises(ConnectionError, match="transport down"):
        bus.dispatch(Make())
    with pytest.raises(ConnectionError):
        bus.emit(created(2))
    with pytest.raises(ConnectionError):
        asyncio.run(bus.emit_async(created(3)))
    assert seen == []


def test_emit_async_and_dispatch_async_use_send_async(bus: MessageBus):
    log: list[Any] = []
    bus.attach_outbox(Recorder(log))

    async def handler(cmd: Make) -> None:
        bus.add_pending_event(created(1))

    bus.register_command(Make, handler)

    async def main() -> None:
        await bus.dispatch_async(Make())
        await bus.emit_async(deleted())

    asyncio.run(main())
    assert log == [("send", ["resource.created"]), ("send", ["resource.deleted"])]


def test_detached_outbox_gets_nothing(bus: MessageBus):
    log: list[Any] = []
    outbox = Recorder(log)
    bus.attach_outbox(outbox)
    assert bus.outbox is outbox
    with pytest.raises(ValueError, match="detach_outbox"):
        bus.attach_outbox(Recorder([]))
    assert bus.detach_outbox() is outbox
    bus.emit(created(1))
    assert log == []
    with pytest.raises(TypeError, match="send"):
        bus.attach_outbox(object())  # type: ignore[arg-type]


def test_deliver_never_sends_the_incoming_event_but_sends_what_subscribers_queue(bus: MessageBus):
    log: list[Any] = []
    bus.attach_outbox(Recorder(log))
    bus.subscribe_event("resource.created", lambda e: bus.add_pending_event(deleted()))
    bus.subscribe_event("resource.deleted", lambda e: log.append(("local", "deleted")))
    assert bus.deliver(created(1)) == []
    assert log == [("send", ["resource.deleted"]), ("local", "deleted")]


def failing_then(bus: MessageBus, calls: list[str], fail: set[str]) -> None:
    def first(event: Event) -> None:
        calls.append("first")
        if "first" in fail:
            raise RuntimeError("first broke")

    def second(event: Event) -> None:
        calls.append("second")
        if "second" in fail:
            raise ValueError("second broke")

    bus.subscribe_event("resource.*", first)
    bus.subscribe_event("resource.*", second)


@pytest.mark.parametrize("strict", [False, True])
def test_deliver_reports_failures_and_only_retries_those(strict: bool):
    bus = MessageBus.isolated(strict=strict)
    calls: list[str] = []
    fail = {"second"}
    failing_then(bus, calls, fail)
    event = created(1)
    failures = bus.deliver(event)
    assert [(s.name.rsplit(".", 1)[-1], type(e)) for s, e in failures] == [("second", ValueError)]
    assert calls == ["first", "second"]
    fail.clear()
    assert bus.deliver(event, only={failures[0][0].name}) == []
    assert calls == ["first", "second", "second"]


def test_deliver_async_reports_failures_of_async_subscribers(bus: MessageBus):
    calls: list[str] = []

    async def flaky(event: Event) -> None:
        await asyncio.sleep(0)
        calls.append("flaky")
        raise RuntimeError("nope")

    def steady(event: Event) -> None:
        calls.append("steady")

    bus.subscribe_event("resource.*", flaky)
    bus.subscribe_event("resource.*", steady)
    failures = asyncio.run(bus.deliver_async(created(1)))
    assert [s.name for s, _ in failures] == [bus.subscriptions[0].subscriber.name]
    assert asyncio.run(bus.deliver_async(created(2), only=["nobody"])) == []
    assert sorted(calls) == ["flaky", "steady"]
    with pytest.raises(TypeError, match="Event instance"):
        bus.deliver("not an event")  # type: ignore[arg-type]


def test_reset_detaches_the_outbox() -> None:
    sent: list[list[Event]] = []

    class Recorder:
        def send(self, events: list[Event]) -> None:
            sent.append(list(events))

        async def send_async(self, events: list[Event]) -> None:
            sent.append(list(events))

    bus = MessageBus.isolated()
    bus.attach_outbox(Recorder())
    bus.reset()
    assert bus.outbox is None
    bus.emit(SystemEvent("test", "info", "after reset"))
    assert sent == []


@pytest.mark.parametrize("strict", [False, True])
def test_deliver_retries_and_blames_the_right_one_of_same_named_subscribers(strict: bool) -> None:
    bus = MessageBus.isolated(strict=strict)
    calls: list[str] = []

    def make(tag: str, fail: bool) -> Any:
        def on(event: Event) -> None:
            calls.append(tag)
            if fail:
                raise RuntimeError(tag)

        return on

    bad_first = make("bad", True)
    bus.subscribe_event(ResourceCreatedEvent, bad_first)
    bus.subscribe_event(ResourceCreatedEvent, make("ok", False))
    failures = bus.deliver(created(1))
    assert [(s.handler, str(exc)) for s, exc in failures] == [(bad_first, "bad")]
    calls.clear()
    bus.deliver(created(2), only=[s.name for s, _ in failures])
    assert calls == ["bad"]  # the subscriber that succeeded is not run again


@dataclass
class _Counter:
    """A callable dataclass: two instances with equal fields compare equal."""

    calls: list[str]

    def __call__(self, event: Event) -> None:
        self.calls.append("call")
        if len(self.calls) == 2:
            raise RuntimeError("the second one fails")


@pytest.mark.parametrize("strict", [False, True])
def test_deliver_blames_the_failing_one_of_subscribers_that_compare_equal(strict: bool) -> None:
    bus = MessageBus.isolated(strict=strict)
    calls: list[str] = []
    first, second = _Counter(calls), _Counter(calls)
    assert first == second  # distinct subscribers all the same (named ...#2)
    bus.subscribe_event(ResourceCreatedEvent, first)
    bus.subscribe_event(ResourceCreatedEvent, second)
    failures = bus.deliver(created(1))
    assert [s.handler for s, _ in failures] == [second]
    assert [s.name for s, _ in failures] == [bus.subscriptions[1].subscriber.name]


def test_strict_deliver_reports_a_subscriber_that_unsubscribed_itself_then_failed() -> None:
    bus = MessageBus.isolated(strict=True)

    def once(event: Event) -> None:
        subscription.unsubscribe()
        raise RuntimeError("failed after unsubscribing")

    subscription = bus.subscribe_event(ResourceCreatedEvent, once)
    failures = bus.deliver(created(1))
    assert [(s.handler, str(e)) for s, e in failures] == [(once, "failed after unsubscribing")]


def test_a_snapshot_notices_and_undoes_an_attached_or_detached_outbox(bus: MessageBus) -> None:
    log: list[Any] = []
    snapshot = bus.snapshot()
    assert not snapshot.changed()
    outbox = Recorder(log)
    bus.attach_outbox(outbox)
    assert snapshot.changed()
    snapshot.restore()
    assert bus.outbox is None
    bus.emit(created(1))
    assert log == []  # the restored bus no longer sends

    bus.attach_outbox(outbox)
    with bus.snapshot():
        bus.detach_outbox()
    assert bus.outbox is outbox
