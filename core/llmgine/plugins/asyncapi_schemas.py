"""The ``components.schemas`` of an AsyncAPI document: each message's payload and the
classes it nests, each a draft-07 multi-format schema object.

AsyncAPI resolves a ``$ref`` against the whole document, so a payload's own
``definitions`` (``#/definitions/Line``) would point nowhere: each nested class
becomes a schema of its own, ``components.schemas.Line``, and every reference to it
(and a recursive class's reference to the payload itself, ``#``) points at its
``schema``: ``#/components/schemas/Line/schema``, the draft-07 schema, in the format of
the schema that refers to it, as AsyncAPI requires. Payloads that nest the same class
(the same schema, nesting the same classes) share its schema; two different classes
of one name get different keys (``Line``, ``Line_2``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from .draft07 import to_draft07

__all__ = ["SCHEMA_FORMAT", "SchemaComponents", "component_key", "unique_key"]

SCHEMA_FORMAT = "application/schema+json;version=draft-07"

_NOT_KEY = re.compile(r"[^A-Za-z0-9_.\-]")
_DEFS = "#/$defs/"


def component_key(name: str) -> str:
    """``name`` made a valid AsyncAPI component, channel or server key (``a/b`` -> ``a_b``)."""
    return _NOT_KEY.sub("_", name)


def unique_key(name: str, taken: Collection[str]) -> str:
    """``component_key(name)``, with ``_2``, ``_3``, ... if that is in ``taken``."""
    base = component_key(name)
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}_{n}"
    return key


class SchemaComponents:
    """``components.schemas`` being filled: :meth:`add` a payload, read :attr:`schemas`."""

    def __init__(self, reserved: Collection[str]) -> None:
        #: the schemas by key (what ``components.schemas`` holds)
        self.schemas: dict[str, Any] = {}
        self._taken = set(reserved)  # (the payloads' keys, given by their messages)
        self._shared: dict[str, str] = {}  # a nested class's signature -> its key

    def add(self, key: str, schema: Mapping[str, Any]) -> None:
        """Add the payload ``schema`` (draft 2020-12) under ``key``, its nested classes
        beside it; raises :class:`ValueError` (adding nothing) if draft-07 cannot say it."""
        defs: Mapping[str, Any] = schema.get("$defs", {})
        names: dict[str, str] = {}
        for name in defs:
            signature = _signature(name, defs, key)
            found = self._shared.get(signature)
            if found is None:
                found = unique_key(name, self._taken | set(names.values()))
            names[name] = found
        refs = {f"#/definitions/{n}": _target(k) for n, k in names.items()}
        refs["#"] = _target(key)
        converted = to_draft07(schema, refs=refs)  # (raises before anything is added)
        definitions = converted.pop("definitions", {})
        self.schemas[key] = _multi_format(converted)
        self._taken.add(key)
        for name, found in names.items():
            if found not in self.schemas:
                self.schemas[found] = _multi_format(definitions[name])
                self._taken.add(found)
                self._shared[_signature(name, defs, key)] = found


def _target(key: str) -> str:
    return f"#/components/schemas/{key}/schema"


def _multi_format(schema: Any) -> dict[str, Any]:
    return {"schemaFormat": SCHEMA_FORMAT, "schema": schema}


def _signature(name: str, defs: Mapping[str, Any], key: str) -> str:
    """What makes nested class ``name`` the same in two payloads: its schema and those of
    the classes it nests (and the payload's key, if it refers back to the payload)."""
    seen: dict[str, Any] = {}
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in defs:
            continue
        seen[current] = defs[current]
        for ref in _refs(defs[current]):
            if ref == "#":
                seen["#"] = key
            elif ref.startswith(_DEFS):
                todo.append(ref.removeprefix(_DEFS))
    return json.dumps([name, seen], sort_keys=True, default=str)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)
