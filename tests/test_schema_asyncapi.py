"""``llmgine schema --asyncapi`` makes documents that the official AsyncAPI 3.0.0 JSON Schema
accepts, for the shipped plugins with and without the Redis transport; the schemas of their
classes are valid JSON Schema 2020-12, and their draft-07 forms valid draft-07."""

from __future__ import annotations

import copy
import json
from typing import Any

import attrs
import jsonschema
import pytest
from llmgine import cli
from llmgine.messages.conversion import json_schema, to_json
from llmgine.plugins.draft07 import DRAFT_07, to_draft07
from llmgine.plugins.schema import collect

from .asyncapi_spec import problems

SHIPPED = {"audit", "mcp", "otel", "redis", "resources", "workflows"}


def asyncapi(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert cli.main(["schema", "--asyncapi", *args]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    document = json.loads(out)
    assert isinstance(document, dict)
    return document


@pytest.mark.usefixtures("shipped")
def test_without_a_transport_the_document_has_one_in_process_channel(
    capsys: pytest.CaptureFixture[str],
) -> None:
    document = asyncapi(capsys, "--title", "Acme", "--app-version", "1.2.3")
    assert problems(document) == []
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] == "Acme"
    assert document["info"]["version"] == "1.2.3"
    assert "servers" not in document
    assert list(document["channels"]) == ["bus"]
    bus = document["channels"]["bus"]
    assert bus["address"] is None
    # every message of the catalogue is on it, and in components
    assert set(bus["messages"]) == set(document["components"]["messages"])
    assert "llmgine.CreateResourceCommand" in bus["messages"]
    assert set(document["operations"]) == {"bus.dispatch", "bus.handle", "bus.emit", "bus.receive"}
    handle = document["operations"]["bus.handle"]
    assert handle["action"] == "receive"
    assert {"$ref": "#/channels/bus/messages/llmgine.CreateResourceCommand"} in handle["messages"]
    message = document["components"]["messages"]["llmgine.CreateResourceCommand"]
    assert message["x-llmgine-handled-by"] == ["resources"]
    assert message["payload"] == {"$ref": "#/components/schemas/llmgine.CreateResourceCommand"}
    payload = document["components"]["schemas"]["llmgine.CreateResourceCommand"]
    assert payload["schemaFormat"] == "application/schema+json;version=draft-07"
    assert payload["schema"]["$schema"] == DRAFT_07
    assert payload["schema"]["required"] == ["resource_type", "resource_data"]


@pytest.mark.usefixtures("shipped")
def test_with_redis_the_channels_are_its_streams(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMGINE_TRANSPORT", "redis")
    monkeypatch.setenv("LLMGINE_REDIS_URL", "redis://worker:s3cret@redis.internal:6380/2")
    monkeypatch.setenv("LLMGINE_REDIS_PREFIX", "acme")
    monkeypatch.setenv("LLMGINE_REDIS_PATTERNS", "resource.*")
    monkeypatch.setenv("LLMGINE_REDIS_REMOTE", "llmgine.CreateResourceCommand")
    document = asyncapi(capsys)
    assert problems(document) == []
    assert "s3cret" not in json.dumps(document)
    assert document["servers"] == {
        "redis": {
            "host": "redis.internal:6380",
            "protocol": "redis",
            "pathname": "/2",
            "description": "llmgine-redis: Redis Streams (wire format 1, see its README)",
        }
    }
    channels = document["channels"]
    assert list(channels) == ["events", "commands.llmgine.CreateResourceCommand"]
    assert channels["events"]["address"] == "acme:events"
    # the patterns select the resource events only
    assert set(channels["events"]["messages"]) == {
        "llmgine.ResourceCreatedEvent",
        "llmgine.ResourceUpdatedEvent",
        "llmgine.ResourceDeletedEvent",
    }
    command = channels["commands.llmgine.CreateResourceCommand"]
    assert command["address"] == "acme:commands:llmgine.CreateResourceCommand"
    assert command["servers"] == [{"$ref": "#/servers/redis"}]
    assert set(document["operations"]) == {
        "events.emit",
        "events.receive",
        "commands.llmgine.CreateResourceCommand.dispatch",
        "commands.llmgine.CreateResourceCommand.handle",
    }
    # the messages no stream carries are still described
    assert "llmgine.SessionStarted" in document["components"]["messages"]


def test_the_official_schema_refuses_what_asyncapi_3_does_not_allow() -> None:
    # (so that the tests above can fail)
    document: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "channels": {"c": {"address": "c"}},
        "operations": {"o": {"action": "send", "channel": {"$ref": "#/channels/c"}}},
    }
    assert problems(document) == []
    for path, value in (
        (("operations", "o", "action"), "publish"),  # AsyncAPI 2's verb
        (("asyncapi",), "2.6.0"),
        (("channels", "c", "address"), 5),
    ):
        broken = copy.deepcopy(document)
        where = broken
        for key in path[:-1]:
            where = where[key]
        where[path[-1]] = value
        assert problems(broken), path


@pytest.mark.usefixtures("shipped")
def test_every_shipped_schema_is_valid_2020_12_and_its_draft07_form_valid_draft_07() -> None:
    catalogue = collect()
    names = {m.name.rpartition(".")[2] for m in catalogue.messages}
    assert {"CreateResourceCommand", "StartWorkflowCommand", "SystemEvent"} <= names
    assert {p.name for p in catalogue.plugins} == SHIPPED
    for entry in catalogue.messages:
        assert entry.cls is not None, entry
        assert entry.schema is not None, entry
        assert entry.schema == json_schema(entry.cls)
        jsonschema.Draft202012Validator.check_schema(entry.schema)
        jsonschema.Draft7Validator.check_schema(to_draft07(entry.schema))


@attrs.frozen
class Line:
    """One line of an order.

    Attributes:
        sku: the article
    """

    sku: str
    qty: int = attrs.field(metadata={"description": "how many"})


@attrs.frozen
class Order:
    first: Line = attrs.field(metadata={"description": "the first line"})
    lines: list[Line]
    point: tuple[int, str]
    note: str | None = None


def test_draft07_form_accepts_and_refuses_what_the_2020_12_schema_does() -> None:
    schema = json_schema(Order)
    old = to_draft07(schema)
    assert "$defs" not in json.dumps(old)
    assert old["definitions"]["Line"]["properties"]["qty"]["description"] == "how many"
    # a $ref's siblings apply in 2020-12 only: they go beside an allOf in draft-07
    assert old["properties"]["first"] == {
        "allOf": [{"$ref": "#/definitions/Line"}],
        "description": "the first line",
    }
    assert old["properties"]["point"]["items"] == [{"type": "integer"}, {"type": "string"}]
    assert old["properties"]["point"]["additionalItems"] is False
    good = json.loads(to_json(Order(Line("a", 1), [Line("b", 2)], (1, "x"))))
    bad = [
        {**good, "point": [1, "x", "extra"]},
        {**good, "point": ["x", 1]},
        {**good, "lines": [{"sku": "b", "qty": "two"}]},
        {**good, "first": {"sku": "a"}},
        {**good, "unknown": 1},
    ]
    new_validator = jsonschema.Draft202012Validator(schema)
    old_validator = jsonschema.Draft7Validator(old)
    assert new_validator.is_valid(good)
    assert old_validator.is_valid(good)
    for instance in bad:
        assert not new_validator.is_valid(instance), instance
        assert not old_validator.is_valid(instance), instance


def test_a_keyword_draft07_cannot_express_is_named() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "array", "minContains": 2}}}
    with pytest.raises(ValueError, match="#/properties/a: draft-07 has no 'minContains'"):
        to_draft07(schema)
