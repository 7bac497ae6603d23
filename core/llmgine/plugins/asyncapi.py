"""The AsyncAPI 3.0.0 document of an application's catalogue (``llmgine schema --asyncapi``).

* **channels**: those the configured transports describe (their ``describe_channels``
  hook; for llmgine-redis the event stream and one stream per remote command type),
  or, with none configured, one in-process channel ``bus`` carrying every message.
* **operations**: per channel, ``CHANNEL.dispatch`` (send) and ``CHANNEL.handle``
  (receive) for its commands, ``CHANNEL.emit`` (send) and ``CHANNEL.receive`` (receive)
  for its events: the application both sends and receives on each of them.
* **components.schemas**: each message's payload, the JSON Schema of its fields
  rewritten as draft-07 (:mod:`llmgine.plugins.draft07`), in a multi-format schema
  object (``schemaFormat: application/schema+json;version=draft-07``), and each class
  it nests beside it (:mod:`llmgine.plugins.asyncapi_schemas`);
  **components.messages**: every message of the catalogue, keyed by its wire name
  (else its class name), with ``x-llmgine-*`` extensions: class, kind, wire name,
  event type, the plugins that handle or subscribe to it, and why it has no payload
  when its schema cannot be derived.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from .asyncapi_schemas import SCHEMA_FORMAT, SchemaComponents, unique_key
from .channels import ChannelInfo
from .schema import Catalogue, MessageSchema

__all__ = ["ASYNCAPI_VERSION", "IN_PROCESS", "SCHEMA_FORMAT", "asyncapi_document"]

ASYNCAPI_VERSION = "3.0.0"
#: the one channel of an application whose messages no transport carries
IN_PROCESS = "bus"

#: (send, receive) operation names per message kind
_VERBS = {"command": ("dispatch", "handle"), "event": ("emit", "receive")}


def asyncapi_document(
    catalogue: Catalogue, *, title: str = "llmgine application", version: str | None = None
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of ``catalogue``, as JSON values.

    ``title`` and ``version`` (default: the llmgine version) fill its ``info``. Keys
    that two messages, channels or servers would share get a suffix (``_2``, ...).
    """
    ids = _message_ids(catalogue.messages)
    by_wire = {m.wire_name: m for m in catalogue.messages if m.wire_name is not None}
    schemas = SchemaComponents(ids.values())
    messages: dict[str, Any] = {}
    for entry in catalogue.messages:
        key = ids[id(entry)]
        messages[key] = _message(entry, key, schemas)
    servers: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for transport in catalogue.transports:
        server: dict[str, Any] = {"host": transport.host, "protocol": transport.protocol}
        if transport.pathname:
            server["pathname"] = transport.pathname
        if transport.description:
            server["description"] = transport.description
        name = unique_key(transport.name, servers)
        servers[name] = server
        for channel in transport.channels:
            carried = [by_wire[w] for w in channel.messages if w in by_wire]
            key = unique_key(channel.name, channels)
            channels[key] = _channel(channel, carried, ids, name)
            operations.update(_operations(key, carried, ids))
    if not catalogue.transports:
        local = ChannelInfo(
            name=IN_PROCESS,
            address=None,
            messages=(),
            description="In-process: the application's MessageBus (no transport is "
            "configured). Commands are dispatched to their one handler, events emitted "
            "to their subscribers.",
        )
        carried = [m for m in catalogue.messages if m.kind in _VERBS]
        channels[IN_PROCESS] = _channel(local, carried, ids, None)
        operations.update(_operations(IN_PROCESS, carried, ids))
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": title,
            "version": version or __version__,
            "description": "The commands and events of an llmgine application: those its "
            "plugins handle, subscribe to, or name for transports (made by llmgine schema).",
        },
        "defaultContentType": "application/json",
    }
    if servers:
        document["servers"] = servers
    document.update(
        channels=channels,
        operations=operations,
        components={"schemas": schemas.schemas, "messages": messages},
    )
    return document


def _message_ids(entries: tuple[MessageSchema, ...]) -> dict[int, str]:
    """A unique key per entry (by ``id()``): its wire name, else its class name, made a
    valid AsyncAPI component key."""
    ids: dict[int, str] = {}
    taken: set[str] = set()
    for entry in entries:
        key = unique_key(entry.wire_name or entry.name, taken)
        taken.add(key)
        ids[id(entry)] = key
    return ids


def _message(entry: MessageSchema, key: str, schemas: SchemaComponents) -> dict[str, Any]:
    """The message object of ``entry``; its payload schema goes into ``schemas``."""
    message: dict[str, Any] = {"name": key, "title": entry.name.rpartition(".")[2]}
    description = entry.description
    if description:
        message["summary"] = description.strip().splitlines()[0]
        message["description"] = description
    error = entry.error
    if entry.schema is not None:
        try:
            schemas.add(key, entry.schema)
            message["payload"] = {"$ref": f"#/components/schemas/{key}"}
        except ValueError as exc:
            error = f"no draft-07 schema: {exc}"
    message["contentType"] = "application/json"
    message["x-llmgine-class"] = entry.name
    message["x-llmgine-kind"] = entry.kind
    if entry.wire_name is not None:
        message["x-llmgine-wire-name"] = entry.wire_name
    if entry.event_type is not None:
        message["x-llmgine-event-type"] = entry.event_type
    if entry.kind == "command":
        message["x-llmgine-handled-by"] = list(entry.handled_by)
    elif entry.kind == "event":
        message["x-llmgine-subscribed-by"] = list(entry.subscribed_by)
    if error is not None:
        message["x-llmgine-schema-error"] = error
    return message


def _channel(
    channel: ChannelInfo, carried: list[MessageSchema], ids: dict[int, str], server: str | None
) -> dict[str, Any]:
    found: dict[str, Any] = {"address": channel.address}
    found["messages"] = {
        ids[id(m)]: {"$ref": f"#/components/messages/{ids[id(m)]}"} for m in carried
    }
    if channel.description:
        found["description"] = channel.description
    if server is not None:
        found["servers"] = [{"$ref": f"#/servers/{server}"}]
    return found


def _operations(channel: str, carried: list[MessageSchema], ids: dict[int, str]) -> dict[str, Any]:
    """The send and receive operations of ``channel``, per kind of message it carries."""
    operations = {}
    for kind, verbs in _VERBS.items():
        refs = [
            {"$ref": f"#/channels/{channel}/messages/{ids[id(m)]}"}
            for m in carried
            if m.kind == kind
        ]
        if not refs:
            continue
        for action, verb in zip(("send", "receive"), verbs, strict=True):
            operations[f"{channel}.{verb}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{channel}"},
                "summary": f"{verb} the {kind}s of channel {channel}",
                "messages": refs,
            }
    return operations
