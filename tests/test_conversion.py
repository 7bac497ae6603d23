"""from_json / to_json / json_schema: validated messages from untrusted JSON."""

from __future__ import annotations

import enum
import json
import math
import re
import subprocess
import sys
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any, Literal, TypedDict
from uuid import UUID

import attrs
import pytest
from jsonschema import Draft202012Validator
from llmgine.messages import (
    Command,
    Event,
    FieldError,
    MessageValidationError,
    from_json,
    json_schema,
    to_json,
    to_jsonable,
)
from llmgine.messages.conversion import COMMAND_META, EVENT_META, META_FIELDS, check_convertible
from llmgine.messages.events import ResourceCreatedEvent, SystemEvent


class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


@attrs.define
class Item:
    """One line of an order.

    Attributes:
        sku: the stock-keeping unit
    """

    sku: str
    qty: int = attrs.field(validator=attrs.validators.gt(0), metadata={"description": "how many"})


@dataclass
class Order(Command[str]):
    """Place an order for ``items``."""

    items: list[Item]
    note: str | None = None
    size: Size = Size.SMALL
    priority: Priority = Priority.LOW
    channel: Literal["web", "phone"] = "web"
    extra: dict[str, int] = field(default_factory=dict)
    due: datetime | None = None
    day: date | None = None
    ref: UUID | None = None
    tags: frozenset[str] = frozenset()
    scores: tuple[float, ...] = ()
    flag: bool = False


@attrs.frozen
class Shipped(Event):
    order: Order
    carrier: str = attrs.field(validator=attrs.validators.min_len(1))


def test_a_valid_payload_builds_every_supported_annotation() -> None:
    order = from_json(
        Order,
        {
            "items": [{"sku": "a", "qty": 2}],
            "note": "fast",
            "size": "l",
            "priority": 2,
            "channel": "phone",
            "extra": {"gift": 1},
            "due": "2026-12-07T10:00:00+00:00",
            "day": "2026-12-08",
            "ref": "12345678-1234-5678-1234-567812345678",
            "tags": ["x", "y"],
            "scores": [1, 2.5],
            "flag": True,
        },
    )
    assert order.items == [Item("a", 2)]
    assert order.size is Size.LARGE
    assert order.priority is Priority.HIGH
    assert order.due == datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert order.day == date(2026, 12, 8)
    assert order.ref == UUID("12345678-1234-5678-1234-567812345678")
    assert order.tags == frozenset({"x", "y"})
    assert order.scores == (1.0, 2.5)
    assert isinstance(order.scores[0], float)
    assert isinstance(order.command_id, str)
    assert order.session_id is None


def test_json_text_and_bytes_are_parsed() -> None:
    text = '{"items": [{"sku": "a", "qty": 1}]}'
    assert from_json(Order, text).items == from_json(Order, text.encode()).items == [Item("a", 1)]


def test_every_bad_field_is_named_with_its_path() -> None:
    with pytest.raises(MessageValidationError) as caught:
        from_json(
            Order,
            {
                "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": "ten"}, {"sku": 3}],
                "note": 5,
                "size": "xl",
                "channel": "fax",
                "extra": {"gift": "yes"},
                "tags": "abc",
                "flag": "false",
            },
        )
    error = caught.value
    assert error.message_class is Order
    assert error.errors == (
        FieldError("items[1].qty", 'expected integer, got "ten"'),
        FieldError("items[2].sku", "expected string, got 3"),
        FieldError("items[2].qty", "required field missing"),
        FieldError("note", "expected string, got 5"),
        FieldError("size", 'expected one of "s", "l", got "xl"'),
        FieldError("channel", 'expected one of "web", "phone", got "fax"'),
        FieldError('extra["gift"]', 'expected integer, got "yes"'),
        FieldError("tags", 'expected array, got "abc"'),
        FieldError("flag", 'expected boolean, got "false"'),
    )
    assert str(error).splitlines()[0] == "invalid Order: 9 errors"
    assert '  items[1].qty: expected integer, got "ten"' in str(error).splitlines()
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("payload", "path", "message"),
    [
        ({"items": [{"sku": "a", "qty": 1.5}]}, "items[0].qty", "expected integer, got 1.5"),
        ({"items": [{"sku": "a", "qty": True}]}, "items[0].qty", "expected integer, got true"),
        ({"items": [{"sku": "a", "qty": "1"}]}, "items[0].qty", 'expected integer, got "1"'),
        ({"items": {"sku": "a"}}, "items", "expected array, got an object"),
        ({"items": ["a"]}, "items[0]", 'expected object, got "a"'),
        ({"items": [], "scores": [True]}, "scores[0]", "expected number, got true"),
        ({"items": [], "priority": "2"}, "priority", 'expected one of 1, 2, got "2"'),
        ({"items": [], "priority": True}, "priority", "expected one of 1, 2, got true"),
        (
            {"items": [], "due": "yesterday"},
            "due",
            'expected an ISO 8601 date-time string, got "yesterday"',
        ),
        ({"items": [], "due": 5}, "due", "expected an ISO 8601 date-time string, got 5"),
        ({"items": [], "ref": "nope"}, "ref", 'expected a UUID string, got "nope"'),
        ({"items": [], "extra": [1]}, "extra", "expected object, got an array"),
        ({}, "items", "required field missing"),
    ],
)
def test_types_are_checked_not_coerced(payload: Any, path: str, message: str) -> None:
    with pytest.raises(MessageValidationError) as caught:
        from_json(Order, payload)
    assert caught.value.errors == (FieldError(path, message),)


def test_the_class_validators_run_and_are_reported_at_their_object() -> None:
    with pytest.raises(MessageValidationError) as caught:
        from_json(Order, {"items": [{"sku": "a", "qty": 0}]})
    assert caught.value.errors == (FieldError("items[0]", "'qty' must be > 0: 0"),)
    with pytest.raises(MessageValidationError) as caught:
        from_json(ResourceCreatedEvent, {"resource_id": "", "resource_type": "doc"})
    assert caught.value.errors == (
        FieldError("", "ResourceCreatedEvent.resource_id must not be empty"),
    )


def test_an_attrs_instance_of_validator_names_its_field() -> None:
    @attrs.define
    class Strict:
        n: Any = attrs.field(validator=attrs.validators.instance_of(int))

    with pytest.raises(MessageValidationError) as caught:
        from_json(Strict, {"n": "x"})
    assert [e.path for e in caught.value.errors] == ["n"]


def test_post_init_errors_are_reported() -> None:
    @dataclass
    class Positive(Command[None]):
        n: int

        def __post_init__(self) -> None:
            if self.n <= 0:
                raise ValueError("n must be positive")

    with pytest.raises(MessageValidationError, match="n must be positive"):
        from_json(Positive, {"n": -1})


@pytest.mark.parametrize("name", sorted(COMMAND_META))
def test_meta_fields_are_never_taken_from_input(name: str) -> None:
    with pytest.raises(MessageValidationError) as caught:
        from_json(Order, {"items": [], name: "forged"})
    assert caught.value.errors == (FieldError(name, "set by the bus, never taken from input"),)
    order = from_json(Order, {"items": [], name: "forged"}, extra="ignore")
    assert getattr(order, name, None) != "forged"


def test_core_attrs_messages_take_no_ids_from_input() -> None:
    forged = {"resource_id": "r", "resource_type": "doc", "event_id": "x", "timestamp": "y"}
    with pytest.raises(MessageValidationError) as caught:
        from_json(ResourceCreatedEvent, forged)
    assert [e.path for e in caught.value.errors] == ["event_id", "timestamp"]
    event = from_json(ResourceCreatedEvent, forged, extra="ignore")
    assert event.event_id != "x"
    assert isinstance(event.timestamp, datetime)


def test_system_event_type_is_computed_not_read() -> None:
    payload = {"component": "bus", "severity": "info", "message": "hi"}
    event = from_json(SystemEvent, payload)
    assert event.event_type == "system.bus.info"
    with pytest.raises(MessageValidationError, match="event_type: set by the bus"):
        from_json(SystemEvent, {**payload, "event_type": "system.x.critical"})


def test_unknown_keys_are_errors_unless_ignored() -> None:
    with pytest.raises(MessageValidationError) as caught:
        from_json(Order, {"items": [{"sku": "a", "qty": 1, "colour": "red"}], "x": 1})
    assert [e.path for e in caught.value.errors] == ["items[0].colour", "x"]
    assert from_json(Order, {"items": [], "x": 1}, extra="ignore").items == []


@pytest.mark.parametrize(
    "data", ["{", "NaN", '{"items": [], "scores": [NaN]}', '{"items": [], "scores": [Infinity]}']
)
def test_invalid_json_and_nan_literals_are_refused(data: str) -> None:
    with pytest.raises(MessageValidationError, match="not valid JSON"):
        from_json(Order, data)


def test_a_nan_in_parsed_values_is_refused() -> None:
    with pytest.raises(MessageValidationError) as caught:
        from_json(Order, {"items": [], "scores": [math.inf]})
    assert caught.value.errors[0].path == "scores[0]"
    assert "finite" in caught.value.errors[0].message


def test_the_top_level_must_be_an_object() -> None:
    with pytest.raises(MessageValidationError, match="expected object, got an array"):
        from_json(Order, "[1, 2]")
    with pytest.raises(MessageValidationError, match="expected object, got 3"):
        from_json(Order, 3)


def test_a_bad_extra_option_is_refused() -> None:
    with pytest.raises(ValueError, match="extra must be 'forbid' or 'ignore'"):
        from_json(Order, {}, extra="allow")  # type: ignore[arg-type]


def test_to_json_writes_the_fields_only_and_round_trips() -> None:
    order = Order(
        [Item("a", 1)],
        size=Size.LARGE,
        due=datetime(2026, 1, 1, tzinfo=UTC),
        ref=UUID(int=1),
        tags=frozenset({"t"}),
        scores=(0.5,),
    )
    text = to_json(order)
    values = json.loads(text)
    assert "command_id" not in values
    assert "session_id" not in values
    assert values["size"] == "l"
    assert values["due"] == "2026-01-01T00:00:00+00:00"
    assert values["tags"] == ["t"]
    assert values["scores"] == [0.5]
    assert from_json(Order, text) == order
    event = Shipped(order, "ups")
    assert from_json(Shipped, to_json(event)) == event


def test_to_json_refuses_nan_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"Order\.scores\[1\]: nan is not a JSON number"):
        to_json(Order([], scores=(1.0, math.nan)))
    event = ResourceCreatedEvent(
        resource_id="r", resource_type="doc", resource_data={"x": [math.inf]}
    )
    with pytest.raises(ValueError, match=r'resource_data\["x"\]\[0\]'):
        to_jsonable(event)


def test_to_json_refuses_values_json_cannot_hold() -> None:
    event = ResourceCreatedEvent(
        resource_id="r", resource_type="doc", resource_data={"x": object()}
    )
    with pytest.raises(TypeError, match="cannot write ResourceCreatedEvent as JSON"):
        to_json(event)


def test_to_jsonable_handles_plain_values() -> None:
    assert to_jsonable({"a": (1, Size.SMALL), "b": Item("x", 1)}) == {
        "a": [1, "s"],
        "b": {"sku": "x", "qty": 1},
    }


def test_an_unsupported_annotation_is_a_type_error_naming_it() -> None:
    class Opaque:
        pass

    @dataclass
    class Holds(Command[None]):
        thing: Opaque

    with pytest.raises(TypeError, match="Opaque"):
        json_schema(Holds)


# JSON Schema ----------------------------------------------------------------------------


def test_the_schema_describes_fields_types_and_descriptions() -> None:
    schema = json_schema(Order)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Order"
    assert schema["description"] == "Place an order for ``items``."
    assert schema["required"] == ["items"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert set(props) == {
        "items", "note", "size", "priority", "channel", "extra", "due", "day", "ref", "tags",
        "scores", "flag",
    }  # fmt: skip
    assert props["items"] == {"type": "array", "items": {"$ref": "#/$defs/Item"}}
    assert props["note"] == {"type": ["string", "null"], "default": None}
    assert props["size"] == {"title": "Size", "enum": ["s", "l"], "default": "s"}
    assert props["channel"] == {"enum": ["web", "phone"], "default": "web"}
    assert props["extra"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert props["due"]["anyOf"][0] == {"type": "string", "format": "date-time"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}  # duplicates pass
    item = schema["$defs"]["Item"]
    assert item["description"] == "One line of an order."
    assert item["properties"]["sku"]["description"] == "the stock-keeping unit"
    assert item["properties"]["qty"]["description"] == "how many"


def test_meta_fields_are_not_in_the_schema() -> None:
    for cls in (Order, ResourceCreatedEvent, SystemEvent, Shipped):
        assert not META_FIELDS & set(json_schema(cls)["properties"])


def test_a_recursive_class_has_a_schema() -> None:
    schema = json_schema(Tree)
    assert schema["properties"]["children"]["items"] == {"$ref": "#/$defs/Tree"}
    assert from_json(Tree, {"name": "a", "children": [{"name": "b"}]}).children[0].name == "b"


@attrs.define
class Tree:
    name: str
    children: list[Tree] = attrs.Factory(list)


@pytest.mark.parametrize("cls", [Order, Shipped, Tree, ResourceCreatedEvent, SystemEvent])
def test_the_schema_is_valid_and_agrees_with_from_json(cls: type) -> None:
    schema = json_schema(cls)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    samples = {
        Order: {"items": [{"sku": "a", "qty": 1}], "due": "2026-01-01T00:00:00+00:00"},
        Shipped: {"order": {"items": []}, "carrier": "ups"},
        Tree: {"name": "a", "children": [{"name": "b"}]},
        ResourceCreatedEvent: {"resource_id": "r", "resource_type": "doc"},
        SystemEvent: {"component": "bus", "severity": "info", "message": "m"},
    }
    sample = samples[cls]
    validator.validate(sample)
    assert to_jsonable(from_json(cls, sample)).keys() >= sample.keys()
    assert not validator.is_valid({**sample, "unknown": 1})


def test_importing_the_core_does_not_import_cattrs() -> None:
    code = (
        "import sys, llmgine.messages\n"
        "assert 'cattrs' not in sys.modules\n"
        "llmgine.messages.from_json\n"
        "assert 'cattrs' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_class_whose_annotations_cannot_be_read_is_a_type_error() -> None:
    @dataclass
    class LocalItem:
        x: int

    @dataclass
    class Holds(Command[None]):
        items: list[LocalItem]  # a string under `from __future__ import annotations`

    with pytest.raises(TypeError, match=r"cannot read the annotations of .*Holds.*LocalItem"):
        from_json(Holds, {"items": [{"x": 1}]})
    with pytest.raises(TypeError, match=r"cannot read the annotations of .*Holds.*LocalItem"):
        json_schema(Holds)


def test_any_mapping_is_accepted_as_parsed_values() -> None:
    assert from_json(Order, MappingProxyType({"items": []})).items == []


# What the hostile review found ----------------------------------------------------------


class Ratio(float, enum.Enum):
    HALF = 0.5
    ONE = 1.0


class Kind(enum.Enum):
    A = "a"


@dataclass
class Odd:
    ratio: Ratio
    kind: Literal[Kind.A]
    either: int | str
    choice: Literal["auto"] | int = "auto"
    pair: tuple[int, str] = (0, "")


def test_float_enums_literal_members_and_scalar_unions() -> None:
    odd = from_json(Odd, {"ratio": 0.5, "kind": "a", "either": "x", "choice": 3, "pair": [1, "y"]})
    assert odd.ratio is Ratio.HALF
    assert odd.kind is Kind.A
    assert odd.either == "x"
    assert odd.choice == 3
    assert odd.pair == (1, "y")
    assert from_json(Odd, to_json(odd)) == odd
    with pytest.raises(MessageValidationError) as caught:
        from_json(Odd, {"ratio": 0.99, "kind": "b", "either": 1.5, "choice": "manual"})
    assert [e.path for e in caught.value.errors] == ["ratio", "kind", "either", "choice"]
    assert caught.value.errors[2].message == "expected integer or string, got 1.5"
    schema = json_schema(Odd)
    assert schema["properties"]["kind"] == {"const": "a"}
    assert schema["properties"]["pair"]["minItems"] == 2
    json.dumps(schema)  # every value is JSON


def test_an_integral_float_is_an_integer_as_in_json_schema() -> None:
    assert from_json(Item, {"sku": "a", "qty": 2.0}).qty == 2


@pytest.mark.parametrize("annotation", [bytes, "Path", dict[int, str], enum.Flag])
def test_annotations_without_a_json_form_are_refused(annotation: Any) -> None:
    from pathlib import Path

    tp = Path if annotation == "Path" else annotation

    holder = attrs.make_class("Holder", {"value": attrs.field(type=tp)})
    with pytest.raises(TypeError, match="JSON"):
        from_json(holder, {"value": [104, 105]})
    with pytest.raises(TypeError, match="JSON"):
        json_schema(holder)


def test_deep_nesting_is_bad_input_not_a_crash() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(MessageValidationError, match=r"nested too deeply|not valid JSON"):
        from_json(Order, '{"items": [], "extra": ' + deep + "}")
    payload: dict[str, Any] = {"name": "leaf"}
    for _ in range(5_000):
        payload = {"name": "n", "children": [payload]}
    with pytest.raises(MessageValidationError, match="nested too deeply"):
        from_json(Tree, payload)


def test_a_flood_of_bad_items_gives_a_bounded_error() -> None:
    with pytest.raises(MessageValidationError) as caught:
        from_json(Order, {"items": [{"sku": 1, "qty": 1}] * 1_000})
    assert len(caught.value.errors) == 100
    lines = str(caught.value).splitlines()
    assert len(lines) == 22
    assert lines[-1] == "  ... and 80 more (see .errors)"


def test_huge_numbers_are_refused_not_turned_into_infinity() -> None:
    with pytest.raises(MessageValidationError, match="out of range"):
        from_json(Order, '{"items": [], "scores": [1e400]}')


def test_input_cannot_add_lines_to_the_error() -> None:
    with pytest.raises(MessageValidationError) as caught:
        from_json(Order, {"items": [], "note": 5, "x\n  customer: all fine": 1})
    message = str(caught.value)
    assert len(message.splitlines()) == 3
    assert '["x\\n  customer: all fine"]' in message


def test_a_key_error_of_the_class_is_not_a_missing_field() -> None:
    @dataclass
    class Lookup:
        name: str

        def __post_init__(self) -> None:
            raise KeyError("name")

    with pytest.raises(MessageValidationError) as caught:
        from_json(Lookup, {"name": "x"})
    assert caught.value.errors[0].message != "required field missing"


def test_to_jsonable_gives_json_values_for_fixed_tuples() -> None:
    assert to_jsonable(Odd(Ratio.ONE, Kind.A, 1, pair=(2, "b")))["pair"] == [2, "b"]


@dataclass
class Anything:
    value: object = None
    values: dict[str, object] = field(default_factory=dict)
    lines: Iterable[str] = ()


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"value": math.nan}, "Anything.value"),
        ({"values": {"k": [math.inf]}}, 'Anything.values["k"][0]'),
        ({"value": MappingProxyType({"a": math.nan})}, 'Anything.value["a"]'),
        ({"value": deque([1.0, math.nan])}, "Anything.value[1]"),
    ],
)
def test_a_nan_in_a_field_that_holds_anything_is_refused_naming_it(
    kwargs: dict[str, Any], path: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(f"{path}: ")):
        to_jsonable(Anything(**kwargs))


def test_iterables_are_read_as_lists() -> None:
    assert from_json(Anything, {"lines": ["a", "b"]}).lines == ["a", "b"]
    assert json_schema(Anything)["properties"]["lines"] == {
        "type": "array",
        "items": {"type": "string"},
    }


class Point(TypedDict):
    x: int


@dataclass
class Plot(Event):
    points: list[Point]


def test_check_convertible_names_the_field_that_cannot_be_converted() -> None:
    check_convertible(Order)
    with pytest.raises(
        TypeError, match=r"Plot cannot be converted from JSON: Plot\.points: .*TypedDict"
    ):
        check_convertible(Plot)


@dataclass
class CancelCalendarEntry(Command[None]):
    event_id: str  # the calendar's id: a command's own field, not the bus's
    timestamp: datetime


def test_a_command_may_have_fields_named_like_an_events_meta_fields() -> None:
    assert COMMAND_META < META_FIELDS
    assert EVENT_META < META_FIELDS
    command = from_json(
        CancelCalendarEntry, {"event_id": "cal-7", "timestamp": "2026-12-07T09:00:00+00:00"}
    )
    assert command.event_id == "cal-7"
    assert from_json(CancelCalendarEntry, to_json(command)) == command
    assert json_schema(CancelCalendarEntry)["required"] == ["event_id", "timestamp"]
    with pytest.raises(MessageValidationError, match="command_id: set by the bus"):
        from_json(CancelCalendarEntry, {**to_jsonable(command), "command_id": "x"})
