"""``llmgine schema --asyncapi``: every ``$ref`` of the document resolves against the document
itself (AsyncAPI resolves ``#`` there), for nested, shared and recursive classes, with and
without Redis; keys that would clash (channels, servers, nested classes) are made unique."""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import llmgine
import pytest
from llmgine import cli
from llmgine.messages.commands import Command
from llmgine.messages.conversion import to_jsonable
from llmgine.messages.events import Event
from llmgine.plugins import ChannelInfo, PluginHost, TransportInfo, get_plugin_host
from llmgine.plugins.asyncapi import SCHEMA_FORMAT
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from .asyncapi_spec import problems


@dataclasses.dataclass
class Line:
    sku: str
    qty: int


@dataclasses.dataclass
class PlaceOrder(Command[str]):
    lines: list[Line]


@dataclasses.dataclass
class Restock(Command[None]):
    line: Line


#: another class named Line: its own schema, under another key
OtherLine = dataclasses.make_dataclass("Line", [("text", str)])


@dataclasses.dataclass
class Annotate(Command[None]):
    line: OtherLine  # type: ignore[valid-type]


@dataclasses.dataclass
class Node:
    name: str
    children: list[Node]


@dataclasses.dataclass
class Grow(Command[None]):
    root: Node
    sub: list[Grow] | None = None


@dataclasses.dataclass
class Grown(Event):
    event_type = "tree.grown"
    tree: Grow


WIRE = {
    PlaceOrder: "shop.PlaceOrder",
    Restock: "shop.Restock",
    Annotate: "notes/Annotate",
    Grow: "tree.Grow",
    Grown: "tree.Grown",
}


def plugin(**hooks: Callable[..., Any]) -> types.ModuleType:
    module = types.ModuleType("test_asyncapi_refs_plugin")
    for name, hook in hooks.items():
        setattr(module, name, llmgine.hookimpl(hook))
    return module


def register_messages(register: Callable[..., None]) -> None:
    for cls, wire in WIRE.items():
        register(cls, wire)


@pytest.fixture
def host(shipped: None) -> PluginHost:
    """The host of fixture ``shipped``, to add the classes above to."""
    return get_plugin_host()


def asyncapi(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert cli.main(["schema", "--asyncapi"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    document: dict[str, Any] = json.loads(out)
    assert problems(document) == []
    return document


def refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from refs(value, f"{where}/{i}")


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def payload(document: dict[str, Any], wire: str) -> jsonschema.Draft7Validator:
    """A validator of message ``wire``'s payload that resolves refs in the whole document."""
    registry: Registry[Any] = Registry().with_resource(
        "urn:asyncapi", Resource(contents=document, specification=DRAFT7)
    )
    message = document["components"]["messages"][wire]
    return jsonschema.Draft7Validator(
        {"$ref": "urn:asyncapi" + message["payload"]["$ref"] + "/schema"}, registry=registry
    )


def check_every_ref_resolves(document: dict[str, Any]) -> None:
    found = list(refs(document))
    assert len(found) > 20
    for where, ref in found:
        target = resolve(document, ref)  # (a KeyError names nothing: say where)
        assert isinstance(target, dict), (where, ref)
        if "/schema/" in where:  # a reference from a schema: to a draft-07 schema
            key = ref.removeprefix("#/components/schemas/").removesuffix("/schema")
            assert ref == f"#/components/schemas/{key}/schema", (where, ref)
            assert document["components"]["schemas"][key]["schemaFormat"] == SCHEMA_FORMAT
            jsonschema.Draft7Validator.check_schema(target)


@pytest.mark.parametrize("redis", [False, True])
def test_every_ref_resolves_against_the_document(
    host: PluginHost,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis: bool,
) -> None:
    host.register_plugin(
        plugin(
            register_messages=register_messages,
            register_commands=lambda register, bus: register(PlaceOrder, lambda c: "ok"),
        ),
        "shop",
    )
    if redis:
        monkeypatch.setenv("LLMGINE_TRANSPORT", "redis")
        monkeypatch.setenv("LLMGINE_REDIS_REMOTE", "shop.PlaceOrder,tree.Grow")
    document = asyncapi(capsys)
    assert ("events" in document["channels"]) is redis
    check_every_ref_resolves(document)
    schemas = document["components"]["schemas"]
    # the same nested class is one schema; another class of the same name another
    line = schemas["shop.PlaceOrder"]["schema"]["properties"]["lines"]["items"]["$ref"]
    assert schemas["shop.Restock"]["schema"]["properties"]["line"] == {"$ref": line}
    other = schemas["notes_Annotate"]["schema"]["properties"]["line"]["$ref"]
    assert {line, other} == {f"#/components/schemas/{k}/schema" for k in ("Line", "Line_2")}
    assert resolve(document, line)["required"] == ["sku", "qty"]
    assert resolve(document, other)["required"] == ["text"]
    assert not any("definitions" in s["schema"] for s in schemas.values())
    # the payloads validate through those references, recursion included
    order = payload(document, "shop.PlaceOrder")
    assert order.is_valid(to_jsonable(PlaceOrder([Line("a", 1)])))
    assert not order.is_valid({"lines": [{"sku": "a", "qty": "one"}]})
    tree = Grow(Node("r", [Node("c", [])]), [Grow(Node("s", []))])
    grown = {"tree": to_jsonable(tree)}
    for wire, good in (("tree.Grow", to_jsonable(tree)), ("tree.Grown", grown)):
        assert payload(document, wire).is_valid(good), wire
        text = json.dumps(good).replace('"name": "c"', '"name": 5')
        assert not payload(document, wire).is_valid(json.loads(text)), wire
    assert not payload(document, "notes_Annotate").is_valid({"line": {"sku": "a", "qty": 1}})


@dataclasses.dataclass
class Ping(Command[None]):
    n: int = 0


@dataclasses.dataclass
class Pong(Command[None]):
    n: int = 0


def test_channels_that_would_share_a_name_get_a_suffix(
    host: PluginHost, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # two wire names that differ in a character no channel name has: two Redis streams
    def names(register: Callable[..., None]) -> None:
        register(Ping, "a/Ping")
        register(Pong, "a:Ping")

    host.register_plugin(plugin(register_messages=names), "pings")
    monkeypatch.setenv("LLMGINE_TRANSPORT", "redis")
    monkeypatch.setenv("LLMGINE_REDIS_REMOTE", "a/Ping,a:Ping")
    document = asyncapi(capsys)
    check_every_ref_resolves(document)
    channels = document["channels"]
    assert channels["commands.a_Ping"]["address"] == "llmgine:commands:a/Ping"
    assert channels["commands.a_Ping_2"]["address"] == "llmgine:commands:a:Ping"
    assert document["operations"]["commands.a_Ping_2.handle"]["channel"] == {
        "$ref": "#/channels/commands.a_Ping_2"
    }


def test_transports_of_one_name_get_servers_of_their_own(
    host: PluginHost, capsys: pytest.CaptureFixture[str]
) -> None:
    def transport(protocol: str, where: str, channel: str) -> Callable[..., TransportInfo]:
        def describe_channels(messages: Any, bus: Any) -> TransportInfo:
            return TransportInfo(
                name="broker",
                protocol=protocol,
                host=where,
                channels=[ChannelInfo(name=channel, address="a", messages=["shop.Restock"])],
            )

        return describe_channels

    host.register_plugin(plugin(register_messages=register_messages), "shop")
    host.register_plugin(plugin(describe_channels=transport("kafka", "k:9092", "orders")), "k")
    host.register_plugin(plugin(describe_channels=transport("amqp", "r:5672", "audit")), "r")
    document = asyncapi(capsys)
    check_every_ref_resolves(document)
    servers = {key: server["host"] for key, server in document["servers"].items()}
    assert servers == {"broker": "k:9092", "broker_2": "r:5672"}
    assert document["channels"]["orders"]["servers"] == [{"$ref": "#/servers/broker"}]
    assert document["channels"]["audit"]["servers"] == [{"$ref": "#/servers/broker_2"}]
