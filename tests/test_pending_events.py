"""add_pending_event: which dispatch it joins, when and in what order events go out."""

from __future__ import annotations

import dataclasses

import pytest
from llmgine.messages import NoActiveScopeError
from llmgine.messages.bus import MessageBus, message_bus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event


@dataclasses.dataclass
class Do(Command[str]):
    names: tuple[str, ...] = ()


@dataclasses.dataclass
class Named(Event):
    event_type = "test.named"
    name: str


def queue_names(command: Do) -> str:
    # written against the global bus, as the seed's handlers are
    for name in command.names:
        message_bus.add_pending_event(Named(name=name))
    return "done"


def test_events_are_published_in_fifo_order_before_dispatch_returns(bus: MessageBus) -> None:
    seen: list[str] = []
    bus.subscribe_event(Named, lambda e: seen.append(e.name))
    bus.register_command(Do, queue_names)
    assert bus.dispatch(Do(names=("a", "b", "c"))) == "done"
    assert seen == ["a", "b", "c"]


def test_events_are_not_published_while_the_handler_runs(bus: MessageBus) -> None:
    seen: list[str] = []
    bus.subscribe_event(Named, lambda e: seen.append(e.name))

    def handler(command: Do) -> str:
        bus.add_pending_event(Named(name="x"))
        assert seen == []  # queued, not yet published
        return "ok"

    bus.register_command(Do, handler)
    bus.dispatch(Do())
    assert seen == ["x"]


def test_the_global_bus_queues_into_a_dispatch_of_an_isolated_bus(
    bus: MessageBus, global_bus: MessageBus
) -> None:
    on_isolated: list[str] = []
    on_global: list[str] = []
    bus.subscribe_event(Named, lambda e: on_isolated.append(e.name))
    global_bus.subscribe_event(Named, lambda e: on_global.append(e.name))
    bus.register_command(Do, queue_names)
    bus.dispatch(Do(names=("a",)))
    assert on_isolated == ["a"]
    assert on_global == []


def test_outside_a_handler_it_raises_and_points_to_emit(bus: MessageBus) -> None:
    with pytest.raises(NoActiveScopeError, match=r"emit\(event\)"):
        bus.add_pending_event(Named(name="orphan"))
    seen: list[str] = []
    bus.subscribe_event(Named, lambda e: seen.append(e.name))
    bus.register_command(Do, queue_names)
    bus.dispatch(Do(names=("later",)))
    assert seen == ["later"]  # the rejected event was not held for this dispatch


def test_it_rejects_non_events(bus: MessageBus) -> None:
    def handler(command: Do) -> str:
        bus.add_pending_event("not an event")  # type: ignore[arg-type]
        return "unreachable"

    bus.register_command(Do, handler)
    with pytest.raises(TypeError, match="Event instance"):
        bus.dispatch(Do())


def test_subscribers_events_are_published_after_the_current_ones(bus: MessageBus) -> None:
    """Breadth-first: a, b (from the handler), then what their subscribers queued."""
    seen: list[str] = []

    def fan_out(event: Named) -> None:
        seen.append(event.name)
        if len(event.name) < 3:
            bus.add_pending_event(Named(name=event.name + "1"))
            bus.add_pending_event(Named(name=event.name + "2"))

    bus.subscribe_event(Named, fan_out)
    bus.register_command(Do, queue_names)
    bus.dispatch(Do(names=("a", "b")))
    assert seen == [
        *("a", "b"),
        *("a1", "a2", "b1", "b2"),
        *("a11", "a12", "a21", "a22", "b11", "b12", "b21", "b22"),
    ]


def test_events_of_a_failing_subscriber_are_dropped_and_others_kept(bus: MessageBus) -> None:
    seen: list[str] = []

    def queue_then_fail(event: Named) -> None:
        if event.name == "start":
            bus.add_pending_event(Named(name="from-failing"))
            raise RuntimeError("subscriber failed")

    def queue(event: Named) -> None:
        if event.name == "start":
            bus.add_pending_event(Named(name="from-ok"))

    bus.subscribe_event(Named, queue_then_fail)
    bus.subscribe_event(Named, queue)
    bus.subscribe_event(Named, lambda e: seen.append(e.name))
    bus.register_command(Do, queue_names)
    bus.dispatch(Do(names=("start",)))
    assert seen == ["start", "from-ok"]


def test_subscriber_of_an_emitted_event_can_queue_events(bus: MessageBus) -> None:
    seen: list[str] = []

    def chain(event: Named) -> None:
        seen.append(event.name)
        if event.name == "root":
            bus.add_pending_event(Named(name="child"))

    bus.subscribe_event(Named, chain)
    bus.emit(Named(name="root"))
    assert seen == ["root", "child"]


def test_emit_inside_a_handler_publishes_at_once(bus: MessageBus) -> None:
    seen: list[str] = []
    bus.subscribe_event(Named, lambda e: seen.append(e.name))

    def handler(command: Do) -> str:
        bus.add_pending_event(Named(name="queued"))
        bus.emit(Named(name="emitted"))
        assert seen == ["emitted"]
        return "ok"

    bus.register_command(Do, handler)
    bus.dispatch(Do())
    assert seen == ["emitted", "queued"]


@pytest.mark.parametrize("bad", ["not an event", None, Do()])
def test_emit_rejects_non_events(bus: MessageBus, bad: object) -> None:
    import asyncio

    with pytest.raises(TypeError, match=r"emit\(\) needs an Event instance"):
        bus.emit(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"emit_async\(\) needs an Event instance"):
        asyncio.run(bus.emit_async(bad))  # type: ignore[arg-type]
