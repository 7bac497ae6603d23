"""Wire format 1 is unchanged by the move to the core's conversion (issue 17).

The expected entries are what the transport wrote before, byte for byte (made by
the 0.2.1 encoder); each is also read back into an equal message with the ids sent.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from llmgine.messages.commands import Command, CreateResourceCommand
from llmgine.messages.events import (
    Event,
    ResourceCreatedEvent,
    SystemEvent,
    WorkflowStepCompletedEvent,
)
from llmgine_redis import WireError
from llmgine_redis._wire import Spec, _build, encode

WHEN = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


@dataclasses.dataclass
class Point:
    x: int
    y: float


@dataclasses.dataclass
class Shipped(Event):
    order_id: str
    points: list[Point]
    tags: dict[str, int]
    sent_at: datetime
    counts: list[int] = dataclasses.field(default_factory=list)
    note: str | None = None


@dataclasses.dataclass
class Ship(Command[None]):
    order_id: str
    due: datetime | None = None


def with_ids(message: Any, ident: str, **ids: Any) -> Any:
    name = "event_id" if isinstance(message, Event) else "command_id"
    for attribute, value in {name: ident, **ids}.items():
        object.__setattr__(message, attribute, value)
    return message


CASES = [
    pytest.param(
        "llmgine.ResourceCreatedEvent",
        ResourceCreatedEvent(
            resource_id="r1",
            resource_type="doc",
            resource_data={"a": 1, "b": [1.5, "x", None, True], "c": {"d": "é"}},
            event_id="e-1",
            correlation_id="c-1",
            causation_id="k-1",
            timestamp=WHEN,
        ),
        {"session_id": "s-1", "trace": {"traceparent": "00-abc-def-01"}},
        b'{"v":1,"kind":"event","type":"llmgine.ResourceCreatedEvent","id":"e-1",'
        b'"ts":"2026-01-02T03:04:05.123456+00:00","correlation_id":"c-1","causation_id":"k-1",'
        b'"session_id":"s-1","fields":{"resource_id":"r1","resource_type":"doc",'
        b'"resource_data":{"a":1,"b":[1.5,"x",null,true],"c":{"d":"\xc3\xa9"}}},'
        b'"trace":{"traceparent":"00-abc-def-01"}}',
        id="core-attrs-event",
    ),
    pytest.param(
        "llmgine.SystemEvent",
        with_ids(
            SystemEvent(
                component="db",
                severity="error",
                message="down",
                details={"n": 2},
                timestamp=WHEN.replace(microsecond=0),
            ),
            "e-2",
            correlation_id="e-2",
        ),
        {},
        b'{"v":1,"kind":"event","type":"llmgine.SystemEvent","id":"e-2",'
        b'"ts":"2026-01-02T03:04:05+00:00","correlation_id":"e-2","causation_id":null,'
        b'"session_id":null,"fields":{"component":"db","severity":"error","message":"down",'
        b'"details":{"n":2}}}',
        id="event-type-field-stays-out",
    ),
    pytest.param(
        "llmgine.WorkflowStepCompletedEvent",
        with_ids(
            WorkflowStepCompletedEvent(
                workflow_name="w",
                run_id="r",
                step_name="s",
                step_index=0,
                result=[1, {"x": 2}],
                timestamp=WHEN,
            ),
            "e-3",
        ),
        {},
        b'{"v":1,"kind":"event","type":"llmgine.WorkflowStepCompletedEvent","id":"e-3",'
        b'"ts":"2026-01-02T03:04:05.123456+00:00","correlation_id":null,"causation_id":null,'
        b'"session_id":null,"fields":{"workflow_name":"w","run_id":"r","step_name":"s",'
        b'"step_index":0,"result":[1,{"x":2}]}}',
        id="any-field",
    ),
    pytest.param(
        "test.wire.Shipped",
        with_ids(
            Shipped("o-1", [Point(1, 2.5), Point(3, -1.0)], {"a": 1}, WHEN, counts=[1, 2]),
            "e-4",
            timestamp=WHEN,
            correlation_id="c-4",
            session_id="s-4",
        ),
        {},
        b'{"v":1,"kind":"event","type":"test.wire.Shipped","id":"e-4",'
        b'"ts":"2026-01-02T03:04:05.123456+00:00","correlation_id":"c-4","causation_id":null,'
        b'"session_id":"s-4","fields":{"order_id":"o-1","points":[{"x":1,"y":2.5},'
        b'{"x":3,"y":-1.0}],"tags":{"a":1},"sent_at":"2026-01-02T03:04:05.123456+00:00",'
        b'"counts":[1,2],"note":null}}',
        id="dataclass-event-nested",
    ),
    pytest.param(
        "llmgine.CreateResourceCommand",
        CreateResourceCommand(
            resource_type="doc",
            resource_data={"k": "v"},
            command_id="cmd-1",
            correlation_id="cmd-1",
        ),
        {"reply_to": "llmgine:reply:cmd-1"},
        b'{"v":1,"kind":"command","type":"llmgine.CreateResourceCommand","id":"cmd-1",'
        b'"correlation_id":"cmd-1","causation_id":null,"session_id":null,'
        b'"fields":{"resource_type":"doc","resource_data":{"k":"v"}},'
        b'"reply_to":"llmgine:reply:cmd-1"}',
        id="core-command",
    ),
    pytest.param(
        "test.wire.Ship",
        with_ids(Ship("o-2", due=WHEN), "cmd-2", session_id="s-5"),
        {},
        b'{"v":1,"kind":"command","type":"test.wire.Ship","id":"cmd-2","correlation_id":null,'
        b'"causation_id":null,"session_id":"s-5","fields":{"order_id":"o-2",'
        b'"due":"2026-01-02T03:04:05.123456+00:00"}}',
        id="dataclass-command",
    ),
]


@pytest.mark.parametrize(("name", "message", "extra", "expected"), CASES)
def test_entries_are_written_as_before_and_read_back_with_their_ids(
    name: str, message: Any, extra: dict[str, Any], expected: bytes
) -> None:
    kind = "event" if isinstance(message, Event) else "command"
    if "session_id" in extra:
        object.__setattr__(message, "session_id", extra["session_id"])
    spec = Spec(type(message), name, kind)
    assert encode(message, spec, extra.get("trace"), extra.get("reply_to")) == expected
    back = _build(spec, json.loads(expected))
    assert type(back) is type(message)
    assert back == message
    ids = ["event_id", "timestamp"] if kind == "event" else ["command_id"]
    for attribute in [*ids, "correlation_id", "causation_id", "session_id"]:
        assert getattr(back, attribute) == getattr(message, attribute), attribute


class Colour(enum.Enum):
    RED = "red"


@attrs.define
class Part:
    sku: str
    qty: int


@attrs.define
class Restocked(Event):
    parts: list[Part]
    colour: Colour
    bins: dict[str, list[int]] = attrs.Factory(dict)


def test_nested_classes_and_enums_travel_and_are_checked_at_every_depth() -> None:
    # (the encoder before could not write attrs values, and the decoder checked
    # only that ``parts`` was a list)
    spec = Spec(Restocked, "test.wire.Restocked", "event")
    event = Restocked([Part("a", 1), Part("b", 2)], Colour.RED, {"x": [1, 2]})
    doc = json.loads(encode(event, spec))
    assert doc["fields"] == {
        "parts": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}],
        "colour": "red",
        "bins": {"x": [1, 2]},
    }
    assert _build(spec, doc) == event
    doc["fields"]["parts"][1]["qty"] = "two"
    doc["fields"]["colour"] = "blue"
    doc["fields"]["bins"]["x"][0] = 1.5
    with pytest.raises(WireError) as caught:
        _build(spec, doc)
    assert caught.value.reason == "invalid-fields"
    text = str(caught.value)
    for part in (
        'test.wire.Restocked.parts[1].qty: expected integer, got "two"',
        'test.wire.Restocked.colour: expected one of "red", got "blue"',
        'test.wire.Restocked.bins["x"][0]: expected integer, got 1.5',
    ):
        assert part in text


def test_unknown_fields_and_meta_fields_in_fields_are_ignored_missing_ones_named() -> None:
    spec = Spec(Ship, "test.wire.Ship", "command")
    doc = json.loads(encode(with_ids(Ship("o-3"), "cmd-3"), spec))
    doc["fields"].update(added_later=[1], command_id="forged", session_id="forged")
    back = _build(spec, doc)
    assert (back.order_id, back.command_id, back.session_id) == ("o-3", "cmd-3", None)
    del doc["fields"]["order_id"]
    with pytest.raises(WireError, match=r"test\.wire\.Ship\.order_id: required field missing"):
        _build(spec, doc)
