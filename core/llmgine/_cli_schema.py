"""``llmgine schema``: the installed application's commands and events, with their fields'
JSON Schema, as text, JSON (``--json``) or an AsyncAPI 3.0.0 document (``--asyncapi``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .plugins.asyncapi import asyncapi_document
from .plugins.schema import Catalogue, MessageSchema, collect

__all__ = ["add_parser"]

DESCRIPTION = """\
Print the catalogue of the installed application: every command and event class
that the plugins register handlers for, subscribe to by class, or name for
transports (their register_messages hook, and the core's own messages), each with
its wire name, the JSON Schema (draft 2020-12) of its fields, and the plugins that
handle it (commands) or subscribe to it (events).

A class whose schema cannot be derived (a field of a type with no JSON form) is
listed with the reason instead of a schema, as is a class registered by reference
that cannot be imported; both are also warned about on stderr.

A plugin in error (it fails to load or to register) is left out, and warned about
on stderr.

--asyncapi prints an AsyncAPI 3.0.0 document: its channels are those of the
configured transport (with llmgine-redis selected: the event stream and one stream
per remote command type) or, with none, one in-process channel named "bus".
With LLMGINE_TRANSPORT set but no plugin describing a transport (the transport's
plugin is in error, or not installed), --asyncapi and --json print nothing and
exit with status 1 rather than describe the in-process bus.
"""

EPILOG = """\
examples:
  llmgine schema
  llmgine schema --json > catalogue.json
  LLMGINE_TRANSPORT=redis llmgine schema --asyncapi > asyncapi.json
"""


def add_parser(sub: Any) -> None:
    """Add the ``schema`` subcommand to the ``llmgine`` parser's subparsers ``sub``."""
    parser = sub.add_parser(
        "schema",
        help="print the commands and events of the installed application and their "
        "JSON Schema; --asyncapi for an AsyncAPI document",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--json",
        action="store_true",
        help="print the catalogue as one JSON object with the keys llmgine (version), "
        "messages, plugins and transports (default: a text summary)",
    )
    output.add_argument(
        "--asyncapi",
        action="store_true",
        help="print an AsyncAPI 3.0.0 document (JSON) of the messages and the channels "
        "they travel on (default: a text summary)",
    )
    parser.add_argument(
        "--title",
        default="llmgine application",
        help="with --asyncapi: the document's info.title (default: %(default)s)",
    )
    parser.add_argument(
        "--app-version",
        metavar="VERSION",
        default=None,
        help="with --asyncapi: the document's info.version (default: the llmgine version)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    catalogue = collect()
    for entry in catalogue.messages:
        if entry.error is not None:
            print(f"llmgine schema: warning: {entry.name}: {entry.error}", file=sys.stderr)
    for plugin in catalogue.plugins:
        if plugin.state == "error":
            print(
                f"llmgine schema: warning: plugin {plugin.name!r} is in error (left out): "
                f"{plugin.error}",
                file=sys.stderr,
            )
    missing = _missing_transport(catalogue)
    if missing is not None and (args.asyncapi or args.json):
        print(f"llmgine schema: {missing}; no document printed", file=sys.stderr)
        return 1
    if missing is not None:
        print(f"llmgine schema: warning: {missing}", file=sys.stderr)
    if args.asyncapi:
        document = asyncapi_document(catalogue, title=args.title, version=args.app_version)
        print(json.dumps(document, indent=2))
    elif args.json:
        print(json.dumps(catalogue.to_json(), indent=2))
    else:
        _print_summary(catalogue)
    return 0


def _missing_transport(catalogue: Catalogue) -> str | None:
    """Why no transport is described although ``LLMGINE_TRANSPORT`` selects one, if so."""
    selected = os.environ.get("LLMGINE_TRANSPORT", "").strip()
    if not selected or catalogue.transports:
        return None
    failed = [repr(p.name) for p in catalogue.plugins if p.state == "error"]
    why = "no installed plugin describes it"
    if failed:
        why = f"no plugin describes it (in error: {', '.join(failed)})"
    return f"LLMGINE_TRANSPORT={selected} selects a transport, but {why}"


def _print_summary(catalogue: Catalogue) -> None:
    loaded = [p for p in catalogue.plugins if p.state != "error"]
    if not catalogue.plugins:
        print("no llmgine plugins installed: only the core's messages are listed")
    for plugin in catalogue.plugins:
        if plugin.state == "error":
            print(f"plugin {plugin.name!r} is in error (left out): {plugin.error}")
    counts = {
        kind: sum(m.kind == kind for m in catalogue.messages) for kind in ("command", "event")
    }
    print(
        f"{counts['command']} commands, {counts['event']} events from {len(loaded)} "
        f"plugin{'s' * (len(loaded) != 1)} and the core"
    )
    for transport in catalogue.transports:
        print(f"transport {transport.name}: {transport.protocol}://{transport.host}")
        for channel in transport.channels:
            print(f"  channel {channel.name} ({channel.address}): {len(channel.messages)} messages")
    for entry in catalogue.messages:
        print()
        for line in _describe(entry):
            print(line)


def _describe(entry: MessageSchema) -> list[str]:
    head = f"{entry.kind} {entry.name}"
    if entry.wire_name is not None:
        head += f"  (wire name {entry.wire_name})"
    lines = [head]
    if entry.description:
        lines.append(f"  {entry.description.strip().splitlines()[0]}")
    if entry.event_type is not None:
        lines.append(f"  event type: {entry.event_type}")
    if entry.kind == "command":
        lines.append(f"  handled by: {', '.join(entry.handled_by) or '(no plugin)'}")
    elif entry.kind == "event":
        lines.append(f"  subscribed by: {', '.join(entry.subscribed_by) or '(no plugin)'}")
    if entry.schema is None:
        lines.append(f"  fields: unknown: {entry.error}")
        return lines
    properties = entry.schema.get("properties", {})
    required = set(entry.schema.get("required", ()))
    if not properties:
        lines.append("  fields: none")
    for name, field in properties.items():
        optional = "" if name in required else " (optional)"
        lines.append(f"  - {name}: {_type_of(field)}{optional}")
    return lines


def _type_of(schema: Any) -> str:
    """A field's schema in a few words: ``string``, ``array of integer``, ``Item``, ..."""
    if not isinstance(schema, dict):
        return "any" if schema else "nothing"
    if "$ref" in schema:
        return str(schema["$ref"]).rpartition("/")[2]
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    if "anyOf" in schema:
        return " or ".join(_type_of(option) for option in schema["anyOf"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        if "prefixItems" in schema:
            return "array of (" + ", ".join(_type_of(i) for i in schema["prefixItems"]) + ")"
        return f"array of {_type_of(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {_type_of(schema['additionalProperties'])}"
    if kind == "string" and "format" in schema:
        return f"string ({schema['format']})"
    return str(kind) if kind else "any"
