"""correlation_id and causation_id, and nested dispatch as a unit of its own."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event


@dataclasses.dataclass
class Outer(Command[str]):
    pass


@dataclasses.dataclass
class Inner(Command[str]):
    pass


@dataclasses.dataclass
class Happened(Event):
    event_type = "test.happened"
    label: str


@pytest.mark.parametrize("publish", ["add_pending_event", "emit"])
def test_a_top_level_command_starts_its_own_correlation(bus: MessageBus, publish: str) -> None:
    """Events queued or emitted by its handler join it, caused by the command."""
    events: list[Happened] = []
    bus.subscribe_event(Happened, events.append)

    def handler(command: Outer) -> str:
        getattr(bus, publish)(Happened(label="a"))
        return "ok"

    bus.register_command(Outer, handler)
    command = Outer()
    bus.dispatch(command)
    assert command.correlation_id == command.command_id
    assert command.causation_id is None
    [event] = events
    assert event.correlation_id == command.command_id
    assert event.causation_id == command.command_id


def test_an_event_emitted_on_its_own_starts_its_own_correlation(bus: MessageBus) -> None:
    event = Happened(label="alone")
    bus.emit(event)
    assert event.correlation_id == event.event_id
    assert event.causation_id is None
    second = Happened(label="alone too")
    asyncio.run(bus.emit_async(second))
    assert second.correlation_id == second.event_id


def test_the_whole_chain_shares_the_first_commands_correlation(bus: MessageBus) -> None:
    """Command -> event -> subscriber dispatches a command -> its event -> subscriber queues one."""
    seen: list[Happened] = []
    inner_commands: list[Inner] = []

    def outer(command: Outer) -> str:
        bus.add_pending_event(Happened(label="outer"))
        return "outer"

    def inner(command: Inner) -> str:
        inner_commands.append(command)
        bus.add_pending_event(Happened(label="inner"))
        return "inner"

    def react(event: Happened) -> None:
        seen.append(event)
        if event.label == "outer":
            bus.dispatch(Inner())
        elif event.label == "inner":
            bus.add_pending_event(Happened(label="reaction"))

    bus.register_command(Outer, outer)
    bus.register_command(Inner, inner)
    bus.subscribe_event(Happened, react)
    command = Outer()
    bus.dispatch(command)
    by_label = {e.label: e for e in seen}
    assert list(by_label) == ["outer", "inner", "reaction"]
    [inner_command] = inner_commands
    root = command.command_id
    assert {e.correlation_id for e in seen} == {root}
    assert inner_command.correlation_id == root
    assert by_label["outer"].causation_id == root
    assert inner_command.causation_id == by_label["outer"].event_id
    assert by_label["inner"].causation_id == inner_command.command_id
    assert by_label["reaction"].causation_id == by_label["inner"].event_id


def test_nested_dispatch_publishes_before_returning_to_the_outer_handler(
    bus: MessageBus,
) -> None:
    log: list[str] = []
    bus.subscribe_event(Happened, lambda e: log.append(f"published {e.label}"))

    def inner(command: Inner) -> str:
        bus.add_pending_event(Happened(label="inner"))
        return "inner result"

    def outer(command: Outer) -> str:
        bus.add_pending_event(Happened(label="outer"))
        log.append("outer dispatches inner")
        result = bus.dispatch(Inner())
        log.append(f"outer got {result}")
        return "outer result"

    bus.register_command(Inner, inner)
    bus.register_command(Outer, outer)
    assert bus.dispatch(Outer()) == "outer result"
    assert log == [
        "outer dispatches inner",
        "published inner",
        "outer got inner result",
        "published outer",  # the outer event stayed in the outer scope
    ]


def test_a_failing_nested_dispatch_drops_only_its_own_events(bus: MessageBus) -> None:
    published: list[str] = []
    bus.subscribe_event(Happened, lambda e: published.append(e.label))

    def inner(command: Inner) -> str:
        bus.add_pending_event(Happened(label="inner"))
        raise ValueError("inner failed")

    def outer(command: Outer) -> str:
        bus.add_pending_event(Happened(label="outer"))
        try:
            bus.dispatch(Inner())
        except ValueError:
            return "recovered"
        return "unreachable"

    bus.register_command(Inner, inner)
    bus.register_command(Outer, outer)
    assert bus.dispatch(Outer()) == "recovered"
    assert published == ["outer"]


def test_nested_dispatch_async_inherits_correlation_and_keeps_scopes_apart(
    bus: MessageBus,
) -> None:
    log: list[str] = []
    events: list[Happened] = []

    def record(event: Happened) -> None:
        events.append(event)
        log.append(f"published {event.label}")

    bus.subscribe_event(Happened, record)
    inner_commands: list[Inner] = []

    async def inner(command: Inner) -> str:
        inner_commands.append(command)
        await asyncio.sleep(0)
        bus.add_pending_event(Happened(label="inner"))
        return "inner"

    async def outer(command: Outer) -> str:
        bus.add_pending_event(Happened(label="outer"))
        await bus.dispatch_async(Inner())
        log.append("back in outer")
        return "outer"

    bus.register_command(Inner, inner)
    bus.register_command(Outer, outer)
    command = Outer()
    asyncio.run(bus.dispatch_async(command))
    assert log == ["published inner", "back in outer", "published outer"]
    assert inner_commands[0].correlation_id == command.command_id
    assert inner_commands[0].causation_id == command.command_id
    assert {e.correlation_id for e in events} == {command.command_id}


def test_explicit_ids_are_not_overwritten(bus: MessageBus) -> None:
    events: list[Happened] = []
    bus.subscribe_event(Happened, events.append)

    def handler(command: Outer) -> str:
        event = Happened(label="x")
        object.__setattr__(event, "correlation_id", "given-correlation")
        bus.add_pending_event(event)
        return "ok"

    bus.register_command(Outer, handler)
    command = Outer()
    object.__setattr__(command, "correlation_id", "request-42")
    bus.dispatch(command)
    assert command.correlation_id == "request-42"
    assert events[0].correlation_id == "given-correlation"
    assert events[0].causation_id == command.command_id  # still stamped with its cause


def test_concurrent_dispatches_keep_their_own_correlations(bus: MessageBus) -> None:
    events: list[Happened] = []
    bus.subscribe_event(Happened, events.append)

    async def handler(command: Outer) -> str:
        await asyncio.sleep(0)
        bus.add_pending_event(Happened(label=command.command_id))
        await asyncio.sleep(0)
        return command.command_id

    bus.register_command(Outer, handler)

    async def main() -> list[str]:
        return await asyncio.gather(*(bus.dispatch_async(Outer()) for _ in range(20)))

    ids = asyncio.run(main())
    assert sorted(e.label for e in events) == sorted(ids)
    for event in events:
        assert event.correlation_id == event.label
        assert event.causation_id == event.label
