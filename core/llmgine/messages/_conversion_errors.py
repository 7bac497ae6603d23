"""Every bad field of a failed conversion, with its path: from cattrs' exceptions.

cattrs raises one exception group per class or list, each sub-exception carrying a
note that says which attribute or index it came from; walking the tree gives the
path of each leaf (``items[2].qty``). Errors that the class itself raises (an attrs
validator, ``__post_init__``) come out as they are, at the path of that object.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterator, Mapping
from typing import Any

import attrs
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    ForbiddenExtraKeysError,
    IterableValidationNote,
    StructureHandlerNotFoundError,
)

from ._converter import meta_fields
from .errors import FieldError

__all__ = ["field_errors", "nonfinite_path"]


def field_errors(exc: BaseException, path: str = "") -> list[FieldError]:
    """The :class:`FieldError` of each bad field that ``exc`` (from cattrs) reports."""
    return list(_walk(exc, path))


def _walk(exc: BaseException, path: str) -> Iterator[FieldError]:
    if isinstance(exc, ForbiddenExtraKeysError):
        meta = meta_fields(exc.cl)
        for name in sorted(exc.extra_fields, key=str):
            why = (
                "set by the bus, never taken from input"
                if name in meta
                else "unknown field (this message has no such field)"
            )
            yield FieldError(_join(path, name), why)
    elif isinstance(exc, BaseValidationError):
        for sub in exc.exceptions:
            yield from _walk(sub, _located(sub, path))
    elif isinstance(exc, KeyError) and _names_its_field(exc):
        # cattrs' generated code reads a missing required field as a KeyError
        yield FieldError(path, "required field missing")
    elif isinstance(exc, RecursionError):
        yield FieldError("" if len(path) > 80 else path, "nested too deeply")
    elif isinstance(exc, StructureHandlerNotFoundError):
        yield FieldError(path, f"cannot convert to {exc.type_!r}: no conversion for this type")
    else:
        yield FieldError(_attribute_path(exc, path), _text(exc))


def _names_its_field(exc: KeyError) -> bool:
    """Whether ``exc`` is cattrs' missing key, not a KeyError that a class raised."""
    notes = [n for n in getattr(exc, "__notes__", ()) if isinstance(n, AttributeValidationNote)]
    return bool(notes) and bool(exc.args) and exc.args[0] == notes[-1].name


def _located(exc: BaseException, path: str) -> str:
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):
            return _join(path, note.name)
        if isinstance(note, IterableValidationNote):
            index = note.index
            return f"{path}[{index if isinstance(index, int) else _key(index)}]"
    return path


def _attribute_path(exc: BaseException, path: str) -> str:
    # attrs' own validators pass the attribute as the error's second argument
    if len(exc.args) > 1 and isinstance(exc.args[1], attrs.Attribute):
        return _join(path, exc.args[1].name)
    return path


def _text(exc: BaseException) -> str:
    text = str(exc.args[0]) if len(exc.args) > 1 and isinstance(exc.args[0], str) else str(exc)
    text = text or type(exc).__name__
    # (a message may repeat the whole input: cattrs' "Too many values in [...]")
    return text if len(text) <= 200 else text[:197] + "..."


def _join(path: str, name: object) -> str:
    if isinstance(name, str) and name.isidentifier():
        return f"{path}.{name}" if path else name
    return f"{path}[{_key(name)}]"  # quoted: input must not add lines to the message


def _key(key: object) -> str:
    return json.dumps(key, ensure_ascii=False) if isinstance(key, str) else repr(key)


# Non-finite floats, found again for the error message ----------------------------------


def nonfinite_path(value: Any, path: str = "") -> str | None:
    """The path of the first NaN or infinite float in ``value`` (a message, attrs or
    dataclass instance, or JSON-like container), or ``None``."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, Mapping):
        items: Any = ((f"{path}[{_key(k)}]", v) for k, v in value.items())
    elif isinstance(value, Collection) and not isinstance(value, str | bytes | bytearray):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    elif attrs.has(type(value)):
        items = ((_join(path, f.name), getattr(value, f.name)) for f in attrs.fields(type(value)))
    elif hasattr(type(value), "__dataclass_fields__"):
        items = ((_join(path, n), getattr(value, n)) for n in type(value).__dataclass_fields__)
    else:
        return None
    for where, inner in items:
        found = nonfinite_path(inner, where)
        if found is not None:
            return found
    return None
