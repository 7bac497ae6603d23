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
import math
import typing
from collections.abc import Callable, Mapping
from collections.abc import MutableSet as AbstractMutableSet
from collections.abc import Set as AbstractSet
from datetime import date, datetime
from enum import Enum
from pathlib import Path, PurePath
from typing import Any
from uuid import UUID

import attrs
import cattrs
from cattrs.cols import is_any_set, is_mapping, is_sequence
from cattrs.errors import StructureHandlerNotFoundError
from cattrs.gen import (
    make_dict_structure_fn,
    make_dict_unstructure_fn,
    make_hetero_tuple_unstructure_fn,
    override,
)

from ._json_scalars import describe, register_scalars
from ._json_types import is_class, is_list_like, problem
from .commands import Command
from .events import Event

__all__ = ["FAST", "LENIENT", "META_FIELDS", "STRICT", "describe", "fields_of", "meta_fields"]

#: What the bus sets on every event, never taken from input nor written as data.
EVENT_META = frozenset(
    {"event_id", "timestamp", "correlation_id", "causation_id", "session_id", "event_type"}
)
#: What the bus sets on every command (a command may have a field named ``event_id``).
COMMAND_META = frozenset({"command_id", "correlation_id", "causation_id", "session_id"})
#: Every name that is the bus's on some message.
META_FIELDS = EVENT_META | COMMAND_META


def meta_fields(cls: type) -> frozenset[str]:
    """The names that are the bus's on ``cls``: its ids, timestamp and session."""
    if isinstance(cls, type):
        if issubclass(cls, Event):
            return EVENT_META
        if issubclass(cls, Command):
            return COMMAND_META
    return frozenset()


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
    meta = meta_fields(cls)
    return [(name, required) for name, init, required in found if init and name not in meta]


# Structuring: containers, classes ------------------------------------------------------


def _sequence_factory(converter: cattrs.Converter) -> Callable[[Any], Any]:
    """Lists, sequences, homogeneous tuples and sets: a JSON array, then cattrs' list hook."""

    def factory(tp: Any) -> Callable[[Any, Any], Any]:
        if problem(tp) is not None:  # (a deque, say: cattrs would give a list)
            return _refuse(tp)
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
        if problem(tp) is not None:  # (keys that are not strings, a Counter, ...)
            return _refuse(tp)
        return _object_first(cattrs.cols.mapping_structure_factory(tp, converter))

    return factory


def _object_first(inner: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``inner``, for a JSON object only: anything else is refused, saying what it is."""

    def structure(value: Any, tp: Any) -> Any:
        if value.__class__ is not dict and not isinstance(value, Mapping):
            raise TypeError(f"expected object, got {describe(value)}")
        return inner(value, tp)

    return structure


def _refuse(tp: Any) -> Callable[[Any, Any], Any]:
    raise StructureHandlerNotFoundError(f"{problem(tp)} (see llmgine.messages.conversion)", tp)


def _refusal(value: Any, tp: Any) -> Any:
    _refuse(tp)


def _omitted(cls: type) -> dict[str, Any]:
    meta = meta_fields(cls)
    if not meta:
        return {}
    names = {f.name for f in attrs.fields(cls)} if attrs.has(cls) else set()
    if dataclasses.is_dataclass(cls):
        names |= {f.name for f in dataclasses.fields(cls)}
    return {name: override(omit=True) for name in names & meta}


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
        return _object_first(build)

    return factory


# Unstructuring -------------------------------------------------------------------------


def _unstructure_float(value: float) -> float:
    if math.isfinite(value):
        return value
    raise ValueError(f"{value!r} is not a JSON number")


def _checked_scalar(converter: cattrs.Converter, kind: type) -> Callable[[Any], Any]:
    """What a field annotated ``kind`` (str, int, bool) writes: its value, but as its own
    class says if it is another's (a NaN in an ``int`` field must still be refused)."""

    def unstructure(value: Any) -> Any:
        if value.__class__ is kind or (isinstance(value, kind) and not isinstance(value, Enum)):
            return value
        if isinstance(value, Enum):
            return converter.unstructure(value.value)  # an IntEnum or StrEnum member
        return converter.unstructure(value)  # (not a ``kind``: dispatched elsewhere)

    return unstructure


def _class_unstructure(converter: cattrs.Converter) -> Callable[[Any], Any]:
    def factory(cls: type) -> Callable[[Any], Any]:
        return make_dict_unstructure_fn(cls, converter, **_omitted(cls))

    return factory


def _is_fixed_tuple(tp: Any) -> bool:
    origin: Any = typing.get_origin(tp)
    return origin is tuple and not is_sequence(tp)


def _make(forbid: bool, detailed: bool = True) -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=forbid, detailed_validation=detailed)
    # The catch-alls first: cattrs tries the hooks registered last first. The very
    # first refuses what has no JSON form, before cattrs' own hooks would cast it.
    converter.register_structure_hook_factory(lambda tp: problem(tp) is not None, _refuse)
    for cls in (bytes, PurePath, Path):  # (which cattrs dispatches by class, before predicates)
        converter.register_structure_hook(cls, _refusal)
    converter.register_structure_hook_factory(is_class, _class_structure(converter, forbid))
    converter.register_structure_hook_factory(
        lambda tp: is_sequence(tp) or is_any_set(tp) or is_list_like(tp),
        _sequence_factory(converter),
    )
    converter.register_structure_hook_factory(is_mapping, _mapping_factory(converter))
    register_scalars(converter)
    converter.register_structure_hook_func(
        lambda tp: tp is object, lambda value, _: value
    )  # as Any

    converter.register_unstructure_hook_factory(is_class, _class_unstructure(converter))
    converter.register_unstructure_hook_factory(
        lambda tp: is_sequence(tp) or is_any_set(tp),
        lambda tp: converter.gen_unstructure_iterable(tp, unstructure_to=list),
    )
    converter.register_unstructure_hook_factory(
        _is_fixed_tuple,  # tuple[int, str]: an array too
        lambda tp: make_hetero_tuple_unstructure_fn(tp, converter, unstructure_to=list),
    )
    converter.register_unstructure_hook(float, _unstructure_float)
    for kind in (str, int, bool):
        converter.register_unstructure_hook(kind, _checked_scalar(converter, kind))
    # A field annotated ``object`` holds anything, as ``Any`` does: write it as its own
    # class says (cattrs would pass it through unlooked-at, NaN included).
    converter.register_unstructure_hook_func(
        lambda tp: tp is object,
        lambda value: value if value.__class__ is object else converter.unstructure(value),
    )
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_unstructure_hook(date, date.isoformat)
    converter.register_unstructure_hook(UUID, str)
    return converter


STRICT = _make(forbid=True)
LENIENT = _make(forbid=False)
#: the fast twin of each, by detailed converter
FAST = {STRICT: _make(forbid=True, detailed=False), LENIENT: _make(forbid=False, detailed=False)}
