"""Pickled and copied messages keep their ids, links and creation time, whatever
way their class is written (the bus correlates a chain of messages by these)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from llmgine.messages.commands import Command, CreateResourceCommand
from llmgine.messages.events import Event, ResourceCreatedEvent, SystemEvent


@dataclasses.dataclass
class DataclassEvent(Event):
    value: int


@dataclasses.dataclass(frozen=True)
class FrozenDataclassEvent(Event):
    value: int


@dataclasses.dataclass(slots=True)
class SlotsDataclassEvent(Event):
    value: int


@dataclasses.dataclass(frozen=True, slots=True)
class FrozenSlotsDataclassEvent(Event):
    value: int


@attrs.define
class AttrsEvent(Event):
    value: int


@attrs.frozen
class FrozenAttrsEvent(Event):
    value: int


@attrs.define(slots=False)
class DictAttrsEvent(Event):
    value: int


class PlainEvent(Event):
    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value


@dataclasses.dataclass
class DataclassCommand(Command[None]):
    value: int


@dataclasses.dataclass(frozen=True)
class FrozenDataclassCommand(Command[None]):
    value: int


@dataclasses.dataclass(frozen=True, slots=True)
class FrozenSlotsDataclassCommand(Command[None]):
    value: int


@attrs.define
class AttrsCommand(Command[None]):
    value: int


@attrs.frozen
class FrozenAttrsCommand(Command[None]):
    value: int


EVENTS: list[Callable[[], Event]] = [
    lambda: DataclassEvent(1),
    lambda: FrozenDataclassEvent(1),
    lambda: SlotsDataclassEvent(1),
    lambda: FrozenSlotsDataclassEvent(1),
    lambda: AttrsEvent(1),
    lambda: FrozenAttrsEvent(1),
    lambda: DictAttrsEvent(1),
    lambda: PlainEvent(1),
    lambda: ResourceCreatedEvent(resource_id="r", resource_type="t"),
    lambda: SystemEvent(component="c", severity="info", message="m"),
]
COMMANDS: list[Callable[[], Command[Any]]] = [
    lambda: DataclassCommand(1),
    lambda: FrozenDataclassCommand(1),
    lambda: FrozenSlotsDataclassCommand(1),
    lambda: AttrsCommand(1),
    lambda: FrozenAttrsCommand(1),
    lambda: CreateResourceCommand(resource_type="t", resource_data={"a": 1}),
]


def pickled(protocol: int) -> Callable[[Any], Any]:
    return lambda message: pickle.loads(pickle.dumps(message, protocol))


COPIES = {
    **{f"pickle{p}": pickled(p) for p in range(2, pickle.HIGHEST_PROTOCOL + 1)},
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
}


def linked(message: Event | Command[Any]) -> None:
    """What the bus does to a message it queues: the links to its chain."""
    object.__setattr__(message, "correlation_id", "the-chain")
    object.__setattr__(message, "causation_id", "the-cause")


def fields(message: object) -> dict[str, Any]:
    if attrs.has(type(message)):
        return attrs.asdict(message)  # type: ignore[arg-type]
    if dataclasses.is_dataclass(message):
        return dataclasses.asdict(message)
    return {"value": message.value}  # type: ignore[attr-defined]


def identity(message: Event | Command[Any]) -> tuple[object, ...]:
    """What makes a copy the same message: its id, links and (an event's) time and type."""
    if isinstance(message, Event):
        return (message.event_id, message.timestamp, message.event_type)
    return (message.command_id,)


@pytest.mark.parametrize("how", COPIES.values(), ids=COPIES.keys())
@pytest.mark.parametrize("make", [*EVENTS, *COMMANDS], ids=lambda make: type(make()).__name__)
def test_copies_keep_ids_links_and_time(
    make: Callable[[], Event | Command[Any]], how: Callable[[Any], Any]
) -> None:
    message = make()
    linked(message)
    twin = how(message)
    assert twin is not message
    assert type(twin) is type(message)
    assert identity(twin) == identity(message)
    assert (twin.correlation_id, twin.causation_id) == ("the-chain", "the-cause")
    assert fields(twin) == fields(message)


def test_a_timestamp_read_before_pickling_survives_as_the_same_datetime() -> None:
    event = AttrsEvent(1)
    when = event.timestamp  # turns the clock reading into a datetime
    assert isinstance(when, datetime)
    assert when.tzinfo is UTC
    assert pickle.loads(pickle.dumps(event)).timestamp == when


def test_copies_are_still_separate_messages() -> None:
    """A copy shares the original's identity but not its state: changing one leaves the other."""
    event = AttrsEvent(1)
    twin = copy.copy(event)
    twin.value = 2
    twin.correlation_id = "other"
    assert (event.value, event.correlation_id) == (1, None)


def test_new_messages_from_fields_get_new_ids() -> None:
    """replace()/evolve() make a new message; the core's messages declare their ids as fields."""
    event = FrozenAttrsEvent(1)
    command = FrozenDataclassCommand(1)
    assert attrs.evolve(event, value=2).event_id != event.event_id
    assert dataclasses.replace(command, value=2).command_id != command.command_id
    core = ResourceCreatedEvent(resource_id="r", resource_type="t")
    assert attrs.evolve(core, resource_id="s").event_id == core.event_id  # an attrs field there
