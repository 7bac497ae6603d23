"""The cattrs converters behind :mod:`llmgine.messages.conversion`.

cattrs (attrs' companion) does the conversion: it generates one structuring and
one unstructuring function per class, reports every bad field at once, and calls
the class itself, so attrs validators and ``__post_init__`` run. What is ours:

* **Strict JSON types.** cattrs converts by calling the type (``int("10")``,
  ``bool("false")``, ``list("abc")``); input from a model or another service must
  not be coerced like that, so scalars, lists and objects are checked, not cast.
* **Meta fields.** A message's ids, timestamp and session are the bus's to set: they
  are omitted from both directions, and in strict mode naming one is an error.
* **Finite floats.** JSON has no NaN or infinity (Python's encoders would write
  ``NaN`` or, orjson, ``null``), so unstructuring refuses them.

Converters share these rules in pairs: ``STRICT`` refuses unknown keys (tool
arguments from a model) and ``LENIENT`` ignores them (a transport's reader, so that
services can be deployed one at a time). Each has a fast twin without cattrs'
detailed validation (about 40% less per message), whose error only says that the
input is bad: :func:`~llmgine.messages.conversion.from_json` then converts again
with the detailed one, to name every bad field.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import typing
from collections.abc import Callable, Mapping
from collections.abc import MutableSet as AbstractMutableSet
from collections.abc import Set as AbstractSet
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

import attrs
import cattrs
from cattrs.cols import is_any_set, is_mapping, is_sequence
from cattrs.errors import StructureHandlerNotFoundError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .commands import Command
from .events import Event

__all__ = ["FAST", "LENIENT", "META_FIELDS", "STRICT", "describe", "fields_of"]

#: What the bus sets on every message, never taken from input nor written as data.
META_FIELDS = frozenset(
    {
        "command_id",
        "event_id",
        "timestamp",
        "correlation_id",
        "causation_id",
        "session_id",
        "event_type",
    }
)


def describe(value: object) -> str:
    """``value`` as it reads in JSON (``"ten"``, ``3``, ``null``), cut to 80 characters."""
    if value is None or isinstance(value, bool):
        text = {None: "null", True: "true", False: "false"}[value]
    elif isinstance(value, str):
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, list):
        text = "an array"
    elif isinstance(value, dict):
        text = "an object"
    else:
        text = f"{type(value).__name__} {value!r}"
    return text if len(text) <= 80 else text[:77] + "..."


def fields_of(cls: type) -> list[tuple[str, bool]]:
    """(name, required) of the fields of an attrs or dataclass ``cls`` taken as input."""
    if attrs.has(cls):
        found = [(f.name, f.init, f.default is attrs.NOTHING) for f in attrs.fields(cls)]
    elif dataclasses.is_dataclass(cls):
        found = [
            (
                f.name,
                f.init,
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(cls)
        ]
    else:
        raise TypeError(f"{cls.__qualname__} is not an attrs or @dataclass class")
    return [(name, required) for name, init, required in found if init and not _is_meta(cls, name)]


def _is_meta(cls: type, name: str) -> bool:
    return name in META_FIELDS and issubclass(cls, Event | Command)


# Structuring: strict scalars ----------------------------------------------------------


def _scalar(name: str, accepts: tuple[type, ...]) -> Callable[[Any, Any], Any]:
    def structure(value: Any, tp: Any) -> Any:
        if tp not in accepts and _is_enum(tp):  # cattrs sends an IntEnum here, by its base
            return _enum_hook(tp)(value, tp)
        if isinstance(value, accepts) and not (bool not in accepts and isinstance(value, bool)):
            return value
        raise TypeError(f"expected {name}, got {describe(value)}")

    return structure


def _structure_float(value: Any, _: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
        raise ValueError(f"expected a finite number, got {value!r} (JSON has no NaN or infinity)")
    raise TypeError(f"expected number, got {describe(value)}")


def _from_string(kind: type, parse: Callable[[str], Any], what: str) -> Callable[[Any, Any], Any]:
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


def _is_literal(tp: Any) -> bool:
    return typing.get_origin(tp) is Literal


def _literal_hook(tp: Any) -> Callable[[Any, Any], Any]:
    allowed = typing.get_args(tp)
    shown = ", ".join(describe(v) for v in allowed)

    def structure(value: Any, _: Any) -> Any:
        # (type too: 1 == True, and a model's "1" is not the literal 1)
        for choice in allowed:
            if value == choice and type(value) is type(choice):
                return choice
        raise ValueError(f"expected one of {shown}, got {describe(value)}")

    return structure


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum)


@functools.cache
def _enum_hook(tp: type[enum.Enum]) -> Callable[[Any, Any], Any]:
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


# Structuring: containers, classes ------------------------------------------------------


def _sequence_factory(converter: cattrs.Converter) -> Callable[[Any], Any]:
    """Lists, sequences, homogeneous tuples and sets: a JSON array, then cattrs' list hook."""

    def factory(tp: Any) -> Callable[[Any, Any], Any]:
        origin = typing.get_origin(tp) or tp
        args = typing.get_args(tp)
        element = args[0] if args else Any
        inner = cattrs.cols.list_structure_factory(list[element], converter)  # type: ignore[valid-type]
        kind: Callable[[Any], Any] | None = None
        if origin is tuple:
            kind = tuple
        elif origin in (set, AbstractMutableSet):
            kind = set
        elif origin in (frozenset, AbstractSet):
            kind = frozenset
        as_list = list[element]  # type: ignore[valid-type]

        def structure(value: Any, _: Any) -> Any:
            if value.__class__ is not list and not isinstance(value, list | tuple):
                raise TypeError(f"expected array, got {describe(value)}")
            result = inner(value, as_list)
            return result if kind is None else kind(result)

        return structure

    return factory


def _mapping_factory(converter: cattrs.Converter) -> Callable[[Any], Any]:
    """Dicts and mappings: a JSON object, then cattrs' mapping hook."""

    def factory(tp: Any) -> Callable[[Any, Any], Any]:
        inner = cattrs.cols.mapping_structure_factory(tp, converter)

        def structure(value: Any, tp_: Any) -> Any:
            if value.__class__ is not dict and not isinstance(value, Mapping):
                raise TypeError(f"expected object, got {describe(value)}")
            return inner(value, tp_)

        return structure

    return factory


def _is_message_class(tp: Any) -> bool:
    return isinstance(tp, type) and (attrs.has(tp) or dataclasses.is_dataclass(tp))


def _omitted(cls: type) -> dict[str, Any]:
    if not issubclass(cls, Event | Command):
        return {}
    names = {f.name for f in attrs.fields(cls)} if attrs.has(cls) else set()
    if dataclasses.is_dataclass(cls):
        names |= {f.name for f in dataclasses.fields(cls)}
    return {name: override(omit=True) for name in names & META_FIELDS}


def _class_structure(converter: cattrs.Converter, forbid: bool) -> Callable[[Any], Any]:
    def factory(cls: type) -> Callable[[Any, Any], Any]:
        try:
            build: Callable[[Any, Any], Any] = make_dict_structure_fn(
                cls,
                converter,
                _cattrs_forbid_extra_keys=forbid,
                _cattrs_detailed_validation=converter.detailed_validation,
                **_omitted(cls),
            )
        except NameError as exc:  # the class's fault, not the input's: say so
            raise StructureHandlerNotFoundError(
                f"cannot read the annotations of {cls.__qualname__}: {exc} (an annotation "
                "may name only what its module defines at the top level)",
                cls,
            ) from None

        def structure(value: Any, tp: Any) -> Any:
            if value.__class__ is not dict and not isinstance(value, Mapping):
                raise TypeError(f"expected object, got {describe(value)}")
            return build(value, tp)

        return structure

    return factory


# Unstructuring -------------------------------------------------------------------------


def _unstructure_float(value: float) -> float:
    if math.isfinite(value):
        return value
    raise ValueError(f"{value!r} is not a JSON number")


def _class_unstructure(converter: cattrs.Converter) -> Callable[[Any], Any]:
    def factory(cls: type) -> Callable[[Any], Any]:
        return make_dict_unstructure_fn(cls, converter, **_omitted(cls))

    return factory


def _make(forbid: bool, detailed: bool = True) -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=forbid, detailed_validation=detailed)
    # The catch-alls first: cattrs tries the hooks registered last first.
    converter.register_structure_hook_factory(
        _is_message_class, _class_structure(converter, forbid)
    )
    converter.register_structure_hook_factory(
        lambda tp: is_sequence(tp) or is_any_set(tp), _sequence_factory(converter)
    )
    converter.register_structure_hook_factory(is_mapping, _mapping_factory(converter))
    converter.register_structure_hook_factory(_is_literal, _literal_hook)
    # (by class: cattrs before 26 tries its own enum hook before any predicate)
    converter.register_structure_hook(enum.Enum, lambda value, tp: _enum_hook(tp)(value, tp))
    converter.register_structure_hook(str, _scalar("string", (str,)))
    converter.register_structure_hook(int, _scalar("integer", (int,)))
    converter.register_structure_hook(bool, _scalar("boolean", (bool,)))
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(
        datetime, _from_string(datetime, datetime.fromisoformat, "an ISO 8601 date-time string")
    )
    converter.register_structure_hook(
        date, _from_string(date, date.fromisoformat, "an ISO 8601 date string")
    )
    converter.register_structure_hook(UUID, _from_string(UUID, UUID, "a UUID string"))

    converter.register_unstructure_hook_factory(_is_message_class, _class_unstructure(converter))
    converter.register_unstructure_hook_factory(
        lambda tp: is_sequence(tp) or is_any_set(tp),
        lambda tp: converter.gen_unstructure_iterable(tp, unstructure_to=list),
    )
    converter.register_unstructure_hook(float, _unstructure_float)
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_unstructure_hook(date, date.isoformat)
    converter.register_unstructure_hook(UUID, str)
    return converter


STRICT = _make(forbid=True)
LENIENT = _make(forbid=False)
#: the fast twin of each, by detailed converter
FAST = {STRICT: _make(forbid=True, detailed=False), LENIENT: _make(forbid=False, detailed=False)}
