"""Property tests of from_json/to_json: what to_json writes, from_json rebuilds equal;
a payload with one field made wrong is refused with an error naming that field."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal
from uuid import UUID

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llmgine.messages import Command, Event, MessageValidationError, from_json, to_json, to_jsonable
from llmgine.messages import commands as core_commands
from llmgine.messages import events as core_events
from llmgine_resources import IdempotentCreateResourceCommand


class Mood(enum.Enum):
    CALM = "calm"
    BUSY = "busy"


@attrs.frozen
class Line:
    sku: str
    qty: int
    price: float


@dataclass
class Basket(Command[None]):
    lines: list[Line]
    owner: str
    mood: Mood = Mood.CALM
    channel: Literal["web", "app"] = "web"
    counts: dict[str, int] = field(default_factory=dict)
    note: str | None = None
    when: datetime | None = None
    day: date | None = None
    ref: UUID | None = None
    labels: frozenset[str] = frozenset()
    path: tuple[int, ...] = ()
    gift: bool = False


@attrs.define
class Checked(Event):
    basket: Basket
    nested: list[list[Line]] = attrs.Factory(list)


finite = st.floats(allow_nan=False, allow_infinity=False)
text = st.text(max_size=8)
lines = st.builds(Line, sku=text, qty=st.integers(), price=finite)
baskets = st.builds(
    Basket,
    lines=st.lists(lines, max_size=3),
    owner=text,
    mood=st.sampled_from(Mood),
    channel=st.sampled_from(["web", "app"]),
    counts=st.dictionaries(text, st.integers(), max_size=3),
    note=st.none() | text,
    when=st.none() | st.datetimes(timezones=st.just(UTC)) | st.datetimes(),
    day=st.none() | st.dates(),
    ref=st.none() | st.uuids(),
    labels=st.frozensets(text, max_size=3),
    path=st.lists(st.integers(), max_size=3).map(tuple),
    gift=st.booleans(),
)
checked = st.builds(
    Checked, basket=baskets, nested=st.lists(st.lists(lines, max_size=2), max_size=2)
)


@given(baskets)
def test_what_to_json_writes_from_json_rebuilds(basket: Basket) -> None:
    assert from_json(Basket, to_json(basket)) == basket


@given(checked)
def test_nested_messages_round_trip(event: Checked) -> None:
    rebuilt = from_json(Checked, to_json(event))
    assert rebuilt == event
    assert rebuilt.event_id != event.event_id  # ids are the bus's, never read back


#: a JSON value that no field of these classes accepts (every one is typed)
WRONG = [["not", "this"]]


@given(basket=baskets, data=st.data())
def test_a_wrong_field_is_named(basket: Basket, data: st.DataObject) -> None:
    payload = json.loads(to_json(basket))
    name = data.draw(st.sampled_from(sorted(payload)))
    payload[name] = WRONG
    with pytest.raises(MessageValidationError) as caught:
        from_json(Basket, payload)
    assert caught.value.errors
    assert all(
        e.path == name or e.path.startswith((f"{name}[", f"{name}.")) for e in caught.value.errors
    )


@given(basket=baskets.filter(lambda b: bool(b.lines)), data=st.data())
def test_a_wrong_nested_field_is_named_with_its_path(basket: Basket, data: st.DataObject) -> None:
    payload = json.loads(to_json(basket))
    index = data.draw(st.integers(0, len(payload["lines"]) - 1))
    name = data.draw(st.sampled_from(["sku", "qty", "price"]))
    payload["lines"][index][name] = "ten" if name != "sku" else 10
    with pytest.raises(MessageValidationError) as caught:
        from_json(Basket, payload)
    assert [e.path for e in caught.value.errors] == [f"lines[{index}].{name}"]


@given(basket=baskets, data=st.data())
def test_a_missing_required_field_is_named(basket: Basket, data: st.DataObject) -> None:
    payload = json.loads(to_json(basket))
    name = data.draw(st.sampled_from(["lines", "owner"]))
    del payload[name]
    with pytest.raises(MessageValidationError) as caught:
        from_json(Basket, payload)
    assert [(e.path, e.message) for e in caught.value.errors] == [(name, "required field missing")]


# The core's and the shipped plugins' own classes ---------------------------------------

non_empty = st.text(min_size=1, max_size=8)
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
data_maps = st.dictionaries(text, json_values, max_size=3)
SAMPLES: dict[type, st.SearchStrategy[Any]] = {
    core_commands.CreateResourceCommand: st.builds(
        core_commands.CreateResourceCommand, resource_type=non_empty, resource_data=data_maps
    ),
    core_commands.UpdateResourceCommand: st.builds(
        core_commands.UpdateResourceCommand,
        resource_id=non_empty,
        resource_type=non_empty,
        resource_data=data_maps,
    ),
    core_commands.StartWorkflowCommand: st.builds(
        core_commands.StartWorkflowCommand, workflow_name=non_empty, input=data_maps
    ),
    core_events.WorkflowStepCompletedEvent: st.builds(
        core_events.WorkflowStepCompletedEvent,
        workflow_name=non_empty,
        run_id=non_empty,
        step_name=non_empty,
        step_index=st.integers(),
        result=json_values,
    ),
    core_events.SystemEvent: st.builds(
        core_events.SystemEvent,
        component=st.sampled_from(["bus", "redis", "a-b"]),
        severity=st.sampled_from(["debug", "info", "warning", "error", "critical"]),
        message=text,
        details=data_maps,
    ),
    IdempotentCreateResourceCommand: st.builds(
        IdempotentCreateResourceCommand,
        resource_type=non_empty,
        resource_data=data_maps,
        idempotency_key=non_empty,
    ),
}


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda cls: cls.__name__)
@settings(max_examples=50)
@given(data=st.data())
def test_core_and_plugin_messages_round_trip(cls: type, data: st.DataObject) -> None:
    message = data.draw(SAMPLES[cls])
    rebuilt = from_json(cls, to_json(message))
    assert type(rebuilt) is cls
    assert to_jsonable(rebuilt) == to_jsonable(message)
