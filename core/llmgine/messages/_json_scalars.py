"""The converter's hooks for JSON scalars: checked, never cast.

cattrs structures a scalar by calling its type (``int("10")``, ``bool("false")``);
input from a model or another service must not be coerced like that. Each hook here
accepts the JSON value of its type only, and its error says what was expected and
what came, as it reads in JSON (:func:`describe`).
"""

from __future__ import annotations

import enum
import functools
import json
import math
import typing
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID

import cattrs
from cattrs.errors import StructureHandlerNotFoundError

from ._json_types import is_scalar_union, unwrap

__all__ = ["describe", "register_scalars"]

Hook = Callable[[Any, Any], Any]


def describe(value: object) -> str:
    """``value`` as it reads in JSON (``"ten"``, ``3``, ``null``), cut to 80 characters.

    Strings are quoted with their newlines escaped, so input cannot add lines to an
    error message that a model or a log reads.
    """
    if value is None or isinstance(value, bool):
        text = {None: "null", True: "true", False: "false"}[value]
    elif isinstance(value, str):
        text = json.dumps(value[:80], ensure_ascii=False)
    elif isinstance(value, int | float):
        text = (
            repr(value) if not isinstance(value, int) or value.bit_length() < 200 else "a huge int"
        )
    elif isinstance(value, list):
        text = "an array"
    elif isinstance(value, dict):
        text = "an object"
    else:
        text = type(value).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum)


def _scalar(name: str, accepts: tuple[type, ...]) -> Hook:
    def structure(value: Any, tp: Any) -> Any:
        if tp not in accepts and _is_enum(tp):  # cattrs sends an IntEnum here, by its base
            return _enum_hook(tp)(value, tp)
        if isinstance(value, accepts) and not (bool not in accepts and isinstance(value, bool)):
            return value
        raise TypeError(f"expected {name}, got {describe(value)}")

    return structure


def _structure_int(value: Any, tp: Any) -> int:
    if tp is not int and _is_enum(tp):  # cattrs sends an IntEnum here, by its base
        return _enum_hook(tp)(value, tp)  # type: ignore[no-any-return]
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    # JSON has one number type: 2.0 is the integer 2 (as JSON Schema's "integer" says)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected integer, got {describe(value)}")


def _structure_float(value: Any, tp: Any) -> float:
    if tp is not float and _is_enum(tp):  # a float-valued enum
        return _enum_hook(tp)(value, tp)  # type: ignore[no-any-return]
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
        raise ValueError(f"expected a finite number, got {value!r} (JSON has no NaN or infinity)")
    raise TypeError(f"expected number, got {describe(value)}")


def _from_string(kind: type, parse: Callable[[str], Any], what: str) -> Hook:
    def structure(value: Any, _: Any) -> Any:
        if isinstance(value, kind):
            return value
        if not isinstance(value, str):
            raise TypeError(f"expected {what}, got {describe(value)}")
        try:
            return parse(value)
        except ValueError:
            raise ValueError(f"expected {what}, got {describe(value)}") from None

    return structure


def _json_value(choice: Any) -> Any:
    return choice.value if isinstance(choice, enum.Enum) else choice


def _literal_hook(tp: Any) -> Hook:
    allowed = [(_json_value(c), c) for c in typing.get_args(unwrap(tp))]
    shown = ", ".join(describe(v) for v, _ in allowed)

    def structure(value: Any, _: Any) -> Any:
        # (type too: 1 == True, and a model's "1" is not the literal 1)
        for json_value, choice in allowed:
            if value == json_value and type(value) is type(json_value):
                return choice
            if value is choice:  # an enum member given as such (parsed values)
                return choice
        raise ValueError(f"expected one of {shown}, got {describe(value)}")

    return structure


@functools.cache
def _enum_hook(tp: type[enum.Enum]) -> Hook:
    if issubclass(tp, enum.Flag):  # (its combinations are no member values)
        raise StructureHandlerNotFoundError(f"{tp.__qualname__} is a Flag: it has no JSON form", tp)
    members = {(type(m.value), m.value): m for m in tp}
    shown = ", ".join(describe(m.value) for m in tp)

    def structure(value: Any, _: Any) -> Any:
        if isinstance(value, tp):
            return value
        try:
            return members[type(value), value]
        except (KeyError, TypeError):  # (TypeError: an unhashable list or dict)
            raise ValueError(f"expected one of {shown}, got {describe(value)}") from None

    return structure


_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def _union_factory(converter: cattrs.Converter) -> Callable[[Any], Hook]:
    """``int | str``, ``Literal["auto"] | int``: the first member that takes the value."""

    def factory(tp: Any) -> Hook:
        members = typing.get_args(tp)
        hooks = [(m, converter.get_structure_hook(m)) for m in members]
        shown = " or ".join(_NAMES.get(m, getattr(m, "__name__", repr(m))) for m in members)

        def structure(value: Any, _: Any) -> Any:
            for member, hook in hooks:
                if member is type(None):
                    if value is None:
                        return None
                    continue
                try:
                    return hook(value, member)
                except (TypeError, ValueError):
                    continue
            raise TypeError(f"expected {shown}, got {describe(value)}")

        return structure

    return factory


def register_scalars(converter: cattrs.Converter) -> None:
    """Give ``converter`` the strict hooks of JSON scalars, literals, enums and their unions."""
    converter.register_structure_hook_factory(is_scalar_union, _union_factory(converter))
    converter.register_structure_hook_factory(
        lambda tp: typing.get_origin(unwrap(tp)) is typing.Literal, _literal_hook
    )
    # (by class: cattrs before 26 tries its own enum hook before any predicate)
    converter.register_structure_hook(enum.Enum, lambda value, tp: _enum_hook(tp)(value, tp))
    converter.register_structure_hook(str, _scalar("string", (str,)))
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(bool, _scalar("boolean", (bool,)))
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(
        datetime, _from_string(datetime, datetime.fromisoformat, "an ISO 8601 date-time string")
    )
    converter.register_structure_hook(
        date, _from_string(date, date.fromisoformat, "an ISO 8601 date string")
    )
    converter.register_structure_hook(UUID, _from_string(UUID, UUID, "a UUID string"))
