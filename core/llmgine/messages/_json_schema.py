"""The JSON Schema (draft 2020-12) of what :func:`~llmgine.messages.conversion.from_json` accepts.

cattrs converts but does not describe, so the schema comes from the classes' own
fields and annotations, walked the way the converter walks them: the same
supported types, the same meta fields left out, unknown keys refused
(``additionalProperties: false``). Nested classes go to ``$defs``, so recursive
ones work. Descriptions come from the class docstring and, per field, from
``metadata={"description": ...}`` or an ``Attributes:`` section of the docstring.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import math
import re
import typing
from collections.abc import Mapping
from datetime import date, datetime
from types import NoneType, UnionType
from typing import Any, Literal
from uuid import UUID

import attrs
from cattrs.cols import is_any_set, is_mapping, is_sequence

from ._converter import fields_of
from ._json_types import is_class, problem, unwrap

__all__ = ["json_schema"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    NoneType: {"type": "null"},
    None: {"type": "null"},
    datetime: {"type": "string", "format": "date-time"},
    date: {"type": "string", "format": "date"},
    UUID: {"type": "string", "format": "uuid"},
    Any: {},
    object: {},
}


def json_schema(cls: type) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the JSON input that builds a ``cls``.

    ``cls`` is an attrs or dataclass class (a message or not). The bus's meta fields
    are left out. Raises ``TypeError`` naming the field whose annotation has no JSON
    form (say, a plain class of yours).
    """
    walker = _Walker()
    root = walker.object_schema(cls)
    schema: dict[str, Any] = {"$schema": DIALECT, **root}
    if walker.defs:
        schema["$defs"] = walker.defs
    return schema


class _Walker:
    """Walks annotations into schemas, collecting nested classes in ``defs``."""

    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}
        self._names: dict[type, str] = {}

    def object_schema(self, cls: type) -> dict[str, Any]:
        doc, field_docs = _docs(cls)
        hints = _hints(cls)
        properties: dict[str, Any] = {}
        required = []
        for name, is_required in fields_of(cls):
            try:
                field_schema = self.schema(hints.get(name, Any))
            except TypeError as exc:
                raise TypeError(f"{cls.__qualname__}.{name}: {exc}") from None
            description = _field_description(cls, name) or field_docs.get(name)
            if description:
                field_schema = {**field_schema, "description": description}
            default = _default(cls, name)
            if default is not _NO_DEFAULT:
                field_schema = {**field_schema, "default": default}
            properties[name] = field_schema
            if is_required:
                required.append(name)
        schema: dict[str, Any] = {"title": cls.__name__}
        if doc:
            schema["description"] = doc
        schema |= {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        return schema

    def schema(self, tp: Any) -> dict[str, Any]:
        tp = unwrap(tp)
        why = problem(tp)
        if why is not None:
            raise TypeError(why)
        if tp in _SCALARS:
            return dict(_SCALARS[tp])
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is Literal:
            values = [a.value if isinstance(a, enum.Enum) else a for a in args]
            return {"const": values[0]} if len(values) == 1 else {"enum": values}
        if origin in (typing.Union, UnionType):
            return self._union(args)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return {"title": tp.__name__, "enum": [member.value for member in tp]}
        if is_class(tp):
            return {"$ref": f"#/$defs/{self._define(tp)}"}
        if is_mapping(tp):
            value = args[1] if len(args) == 2 else Any
            return {"type": "object", "additionalProperties": self.schema(value)}
        if origin is tuple and args and args[-1] is not Ellipsis:
            items = [self.schema(a) for a in args]
            size = len(items)
            return {"type": "array", "prefixItems": items, "items": False, "minItems": size}
        if is_sequence(tp) or is_any_set(tp):
            # (sets too: duplicates are accepted, and dropped)
            schema: dict[str, Any] = {"type": "array"}
            if args and args[0] is not Any:
                schema["items"] = self.schema(args[0])
            return schema
        raise TypeError(f"{tp!r} has no JSON Schema here (a generic class, say)")

    def _union(self, args: tuple[Any, ...]) -> dict[str, Any]:
        options = [self.schema(a) for a in args]
        types = [o.get("type") for o in options]
        if all(len(o) == 1 and isinstance(t, str) for o, t in zip(options, types, strict=True)):
            return {"type": types}  # ["string", "null"]: what models read most easily
        return {"anyOf": options}

    def _define(self, cls: type) -> str:
        name = self._names.get(cls)
        if name is None:
            name = cls.__name__
            taken = set(self._names.values())
            n = 2
            while name in taken:
                name, n = f"{cls.__name__}{n}", n + 1
            self._names[cls] = name
            self.defs[name] = {}  # (reserved first: a class that refers to itself)
            self.defs[name] = self.object_schema(cls)
        return name


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except Exception as exc:  # a forward reference that cannot be resolved
        raise TypeError(f"cannot read the annotations of {cls.__qualname__}: {exc}") from None


_NO_DEFAULT = object()


def _default(cls: type, name: str) -> Any:
    """The field's default as a JSON value, if it has a plain one."""
    if attrs.has(cls):
        found = attrs.fields_dict(cls)[name].default
        value = _NO_DEFAULT if found is attrs.NOTHING or isinstance(found, attrs.Factory) else found  # type: ignore[arg-type]
    else:
        field = {f.name: f for f in dataclasses.fields(cls)}[name]
        value = _NO_DEFAULT if field.default is dataclasses.MISSING else field.default
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, float) and not math.isfinite(value):
        return _NO_DEFAULT  # (JSON has no NaN or infinity)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return _NO_DEFAULT


def _field_description(cls: type, name: str) -> str | None:
    if attrs.has(cls):
        metadata: Mapping[str, Any] = attrs.fields_dict(cls)[name].metadata
    else:
        metadata = {f.name: f for f in dataclasses.fields(cls)}[name].metadata
    description = metadata.get("description")
    return description if isinstance(description, str) else None


_SECTION = re.compile(r"^(Attributes|Args|Parameters|Fields):\s*$")
_ENTRY = re.compile(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _docs(cls: type) -> tuple[str, dict[str, str]]:
    """The class's own docstring without its ``Attributes:`` section, and that section."""
    raw = vars(cls).get("__doc__")
    if not raw or (dataclasses.is_dataclass(cls) and raw.startswith(f"{cls.__name__}(")):
        return "", {}  # none of its own (a dataclass's is its signature)
    lines = inspect.cleandoc(raw).splitlines()
    text: list[str] = []
    fields: dict[str, str] = {}
    current: str | None = None
    in_section = False
    for line in lines:
        if _SECTION.match(line.strip()) and not line.startswith(" "):
            in_section = True
            continue
        if not in_section:
            text.append(line)
        elif line and not line.startswith(" "):
            in_section = False  # the section ended: back to text
            text.append(line)
        elif (
            (entry := _ENTRY.match(line.strip()))
            and line.startswith("    ")
            and not line.startswith("     ")
        ):
            current = entry.group(1)
            fields[current] = entry.group(2).strip()
        elif current and line.strip():
            fields[current] = f"{fields[current]} {line.strip()}".strip()
    return "\n".join(text).strip(), fields
