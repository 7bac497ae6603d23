"""llmgine.tools: building a Toolbox, and its tool definitions against each API's documented shape.

The shapes below are written from each API's reference: OpenAI's Chat Completions
``tools`` entry (``FunctionDefinition``: name ``^[a-zA-Z0-9_-]{1,64}$``, optional
description, parameters, strict) and its Responses API function tool (``type``,
``name``, ``parameters`` required, ``strict`` defaulting to true), Anthropic's Messages
API ``ToolParam`` (``name``, ``input_schema`` with ``type: "object"``, optional
``description``) and MCP's ``Tool`` of ``tools/list`` (``name``, ``inputSchema`` with
``type: "object"``, optional ``title``/``description``/``outputSchema``/``annotations``).
"""

from __future__ import annotations

import enum
import json
import socket
from dataclasses import dataclass, field
from typing import Any, Literal

import attrs
import jsonschema
import pytest
from llmgine.messages import Command, MessageBus, message_bus
from llmgine.tools import FORMATS, Toolbox, ToolboxError, tool_name

NAME = {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"}
OBJECT_SCHEMA = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"const": "object"},
        "properties": {"type": "object"},
        "required": {"type": "array", "items": {"type": "string"}},
    },
}
SHAPES: dict[str, dict[str, Any]] = {
    "openai": {
        "type": "object",
        "required": ["type", "function"],
        "additionalProperties": False,
        "properties": {
            "type": {"const": "function"},
            "function": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": NAME,
                    "description": {"type": "string"},
                    "parameters": OBJECT_SCHEMA,
                    "strict": {"type": ["boolean", "null"]},
                },
            },
        },
    },
    "openai-responses": {
        "type": "object",
        "required": ["type", "name", "parameters", "strict"],  # strict: see the test below
        "additionalProperties": False,
        "properties": {
            "type": {"const": "function"},
            "name": NAME,
            "description": {"type": ["string", "null"]},
            "parameters": OBJECT_SCHEMA,
            "strict": {"type": ["boolean", "null"]},
        },
    },
    "anthropic": {
        "type": "object",
        "required": ["name", "input_schema"],
        "additionalProperties": False,
        "properties": {
            "name": NAME,
            "description": {"type": "string"},
            "input_schema": OBJECT_SCHEMA,
            "type": {"enum": ["custom", None]},
            "cache_control": {"type": ["object", "null"]},
        },
    },
    "mcp": {
        "type": "object",
        "required": ["name", "inputSchema"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "inputSchema": OBJECT_SCHEMA,
            "outputSchema": OBJECT_SCHEMA,
            "annotations": {"type": "object"},
            "icons": {"type": "array"},
            "_meta": {"type": "object"},
        },
    },
}


class Size(enum.Enum):
    SMALL = "small"
    LARGE = "large"


@attrs.define
class Line:
    sku: str
    qty: int = attrs.field(validator=attrs.validators.gt(0))


@attrs.define
class PlaceOrder(Command[str]):
    """Place an order for the lines given.

    Attributes:
        lines: what to buy, and how many of each
        note: a note for the shop
    """

    lines: list[Line]
    note: str | None = None


@dataclass
class LookUpWeather(Command[str]):
    """Look up today's weather in a city."""

    city: str
    unit: Literal["C", "F"] = "C"
    size: Size = Size.SMALL
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class GetTime(Command[str]):
    pass


@pytest.fixture
def toolbox(bus: MessageBus) -> Toolbox:
    return Toolbox([PlaceOrder, LookUpWeather, GetTime], bus=bus)


@pytest.mark.parametrize("format", FORMATS)
def test_every_definition_has_the_documented_shape_of_its_api(
    toolbox: Toolbox, format: Any
) -> None:
    definitions = toolbox.definitions(format)
    assert len(definitions) == 3
    for definition in definitions:
        jsonschema.validate(definition, SHAPES[format])
        # the input schema is valid JSON Schema 2020-12 in itself, and all JSON
        parameters = _input_schema(format, definition)
        jsonschema.Draft202012Validator.check_schema(parameters)
        assert json.loads(json.dumps(definition)) == definition


def test_the_shapes_refuse_what_each_api_refuses() -> None:
    # (so the test above can fail: each shape rejects a definition of another API)
    good = Toolbox([LookUpWeather], bus=MessageBus.isolated())
    for format in FORMATS:
        for other in FORMATS:
            if other != format:
                with pytest.raises(jsonschema.ValidationError):
                    jsonschema.validate(good.definitions(other)[0], SHAPES[format])
    bad_name = {"type": "function", "function": {"name": "look up", "parameters": {}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad_name, SHAPES["openai"])


def test_definitions_carry_name_description_and_the_fields_schema(toolbox: Toolbox) -> None:
    openai, responses, anthropic, mcp = (toolbox.definitions(f)[1] for f in FORMATS)
    schema = openai["function"]["parameters"]
    assert openai["function"]["name"] == "look_up_weather"
    assert openai["function"]["description"] == "Look up today's weather in a city."
    assert "strict" not in openai["function"]  # Chat Completions' default: off
    assert schema["required"] == ["city"]
    assert schema["properties"]["unit"] == {"enum": ["C", "F"], "default": "C"}
    assert schema["additionalProperties"] is False
    # the class's docstring is the description; the schema does not repeat it
    assert "description" not in schema
    assert "title" not in schema
    assert "$schema" not in schema
    # meta fields are never input
    assert not {"command_id", "session_id", "correlation_id"} & set(schema["properties"])
    # the Responses API turns strict mode on unless told: off, as for the other formats
    assert responses["strict"] is False
    assert responses["parameters"] == schema
    assert anthropic == {
        "name": "look_up_weather",
        "description": "Look up today's weather in a city.",
        "input_schema": schema,
    }
    assert mcp["title"] == "Look up weather"
    assert mcp["inputSchema"] == schema


def test_field_descriptions_and_nested_classes_come_from_the_class(toolbox: Toolbox) -> None:
    (place_order,) = [d for d in toolbox.definitions("anthropic") if d["name"] == "place_order"]
    assert place_order["description"] == "Place an order for the lines given."
    schema = place_order["input_schema"]
    assert schema["properties"]["lines"]["description"] == "what to buy, and how many of each"
    assert "Line" in schema["$defs"]  # nested classes are referenced, and defined once
    jsonschema.validate({"lines": [{"sku": "a", "qty": 2}]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"lines": [{"sku": "a", "qty": "2"}]}, schema)


def test_a_command_without_a_docstring_has_no_description(toolbox: Toolbox) -> None:
    openai = toolbox.definitions("openai")[2]["function"]
    assert openai["name"] == "get_time"
    assert "description" not in openai
    assert openai["parameters"]["properties"] == {}
    assert openai["parameters"]["additionalProperties"] is False  # MCP's "no parameters"
    mcp = toolbox.definitions("mcp")[2]
    assert "description" not in mcp
    assert mcp["title"] == "Get time"


def test_definitions_are_new_each_time(toolbox: Toolbox) -> None:
    first = toolbox.definitions("openai")
    first[0]["function"]["parameters"]["properties"].clear()
    assert toolbox.definitions("openai")[0]["function"]["parameters"]["properties"]


def test_an_unknown_format_is_refused_naming_the_formats(toolbox: Toolbox) -> None:
    with pytest.raises(ValueError, match=r"'gemini'.*'openai'.*'mcp'"):
        toolbox.definitions("gemini")  # type: ignore[arg-type]


def test_the_mcp_sdk_accepts_the_mcp_definitions(toolbox: Toolbox) -> None:
    types = pytest.importorskip("mcp.types")
    for definition in toolbox.definitions("mcp"):
        tool = types.Tool.model_validate(definition)
        assert tool.model_dump(exclude_none=True, by_alias=True) == definition


# Names -------------------------------------------------------------------------------


@dataclass
class HTTPRequest(Command[str]):
    url: str


@dataclass
class GetWeatherV2(Command[str]):
    city: str


def test_default_names_are_the_class_names_in_snake_case() -> None:
    assert tool_name(PlaceOrder) == "place_order"
    assert tool_name(HTTPRequest) == "http_request"
    assert tool_name(GetWeatherV2) == "get_weather_v2"
    box = Toolbox([HTTPRequest, GetWeatherV2])
    assert box.names == ("http_request", "get_weather_v2")
    assert box.definitions("mcp")[0]["title"] == "HTTP request"
    assert box.bus is message_bus


def test_a_mapping_gives_the_names(bus: MessageBus) -> None:
    box = Toolbox({"order": PlaceOrder, "weather-now": LookUpWeather}, bus=bus)
    assert box.names == ("order", "weather-now")
    assert "order" in box
    assert "place_order" not in box
    assert 3 not in box
    assert ["order"] not in box
    assert box.command("weather-now") is LookUpWeather
    assert list(box) == ["order", "weather-now"]
    assert len(box) == 2
    assert [d["name"] for d in box.definitions("anthropic")] == ["order", "weather-now"]
    with pytest.raises(KeyError, match=r"no tool named 'nope'; the tools are \('order'"):
        box.command("nope")
    assert "order" in repr(box)


@pytest.mark.parametrize("name", ["", "look up", "x" * 65, "café", "a.b", "a\n", 7])
def test_a_bad_name_is_refused_when_the_toolbox_is_built(name: Any) -> None:
    with pytest.raises(ToolboxError, match=r"must be 1 to 64 letters, digits, '_' or '-'"):
        Toolbox({name: PlaceOrder})


def test_a_class_name_that_makes_a_bad_tool_name_asks_for_a_mapping() -> None:
    Long = type("L" + "o" * 70 + "ng", (GetTime,), {})
    with pytest.raises(ToolboxError, match=r"pass a mapping of names to command classes"):
        Toolbox([Long])
    assert Toolbox({"long": Long}).names == ("long",)


def test_two_commands_under_one_name_are_refused_naming_both() -> None:
    def other_module() -> type[Command[Any]]:
        @dataclass
        class PlaceOrder(Command[str]):
            item: str

        return PlaceOrder

    with pytest.raises(ToolboxError, match=r"'place_order' is given to both .*PlaceOrder and"):
        Toolbox([PlaceOrder, other_module()])
    with pytest.raises(ToolboxError, match=r"'place_order' is given to both"):
        Toolbox([PlaceOrder, PlaceOrder])


@attrs.define
class NotACommand:
    x: int


@pytest.mark.parametrize("thing", [NotACommand, "PlaceOrder", PlaceOrder(lines=[]), None])
def test_anything_but_a_command_class_is_refused(thing: Any) -> None:
    with pytest.raises(ToolboxError, match=r"command class"):
        Toolbox([thing])
    with pytest.raises(ToolboxError, match=r"is not a command class"):
        Toolbox({"tool": thing})


def test_one_class_alone_is_refused_showing_the_list_to_pass() -> None:
    with pytest.raises(
        ToolboxError, match=r"got the class .*GetTime itself: Toolbox\(\[GetTime\]\)"
    ):
        Toolbox(GetTime)  # type: ignore[arg-type]


def test_a_command_whose_schema_cannot_be_derived_is_refused_naming_it() -> None:
    @dataclass
    class Open(Command[None]):
        handle: socket.socket  # what would a model send?

    @dataclass
    class Run(Command[None]):
        callback: type[int]

    for cls in (Open, Run, Command):  # (Command itself has no fields to describe)
        name = tool_name(cls)
        with pytest.raises(
            ToolboxError,
            match=rf"tool '{name}': the input schema of .*{cls.__name__} cannot be derived",
        ):
            Toolbox([cls])


def _input_schema(format: str, definition: dict[str, Any]) -> dict[str, Any]:
    if format == "openai":
        return definition["function"]["parameters"]  # type: ignore[no-any-return]
    key = {"openai-responses": "parameters", "anthropic": "input_schema", "mcp": "inputSchema"}
    return definition[key[format]]  # type: ignore[no-any-return]
