"""What the transport works out once per class that travels, so that each
message costs no more than it must: the fields that travel and the type check of
each (unless the class's own validator already makes it).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MemberDescriptorType, NoneType, UnionType
from typing import Any

import attrs
from llmgine.messages._fields import mapping, non_empty_str, optional_id
from llmgine.messages.commands import Command
from llmgine.messages.events import Event

__all__ = [
    "BASE_FIELDS",
    "ID_FIELDS",
    "Check",
    "Field",
    "fields_of",
    "ids_in_init",
    "new_only_sets_ids",
    "parse_datetime",
]

#: the ids and timestamp every message has: they travel outside ``fields``
ID_FIELDS = {
    "event": ("event_id", "timestamp", "correlation_id", "causation_id"),
    "command": ("command_id", "correlation_id", "causation_id"),
}
BASE_FIELDS = frozenset({*ID_FIELDS["event"], *ID_FIELDS["command"], "event_type", "session_id"})
_BASES: dict[str, Any] = {"event": Event, "command": Command}
#: The slots each base's ``__new__`` fills: the ids, and an event's creation time under
#: the core's raw slot, which is what setting ``timestamp`` on an event writes.
_NEW_FILLS = {
    "event": frozenset(
        {"event_id", "_llmgine_time", "correlation_id", "causation_id", "session_id"}
    ),
    "command": frozenset({*ID_FIELDS["command"], "session_id"}),
}

Check = Callable[[Any], Any]  # returns the (converted) value or raises TypeError/ValueError
#: (field name, its ``__init__`` argument, whether it has a default, converter/checker or None)
Field = tuple[str, str, bool, Check | None]


# The JSON types each core validator lets through: a wire check that allows all of
# them (and maybe more) adds nothing to the validator, which raises TypeError itself.
_VALIDATOR_ALLOWS: dict[Any, frozenset[type]] = {
    non_empty_str: frozenset({str}),
    optional_id: frozenset({str, NoneType}),
    mapping: frozenset({dict}),  # of the values JSON decodes to, only dicts are mappings
}


def fields_of(cls: type) -> tuple[Field, ...]:
    """The ``__init__`` fields of an attrs or dataclass message, without the ids."""
    validators: dict[str, Any] = {}
    if attrs.has(cls):
        found = [
            (f.name, f.alias or f.name, f.init, f.default is not attrs.NOTHING)
            for f in attrs.fields(cls)
        ]
        validators = {f.name: f.validator for f in attrs.fields(cls)}
    elif dataclasses.is_dataclass(cls):
        found = [
            (
                f.name,
                f.name,
                f.init,
                f.default is not dataclasses.MISSING
                or f.default_factory is not dataclasses.MISSING,
            )
            for f in dataclasses.fields(cls)
        ]
    else:
        raise TypeError(
            f"{cls.__qualname__} must be an attrs or @dataclass class to travel over Redis "
            "(its fields are what is sent)"
        )
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable annotations (e.g. a local class): no type checks
        hints = {}
    fields = []
    for name, argument, init, has_default in found:
        if not init or name in BASE_FIELDS:
            continue
        check, allows = _checker(hints.get(name))
        covered = _VALIDATOR_ALLOWS.get(validators.get(name))
        if covered is not None and allows is not None and covered <= allows:
            check = None
        fields.append((name, argument, has_default, check))
    return tuple(fields)


def ids_in_init(cls: type, kind: str) -> bool:
    """Whether ``__init__`` takes the ids (and timestamp) too, as the core's classes do."""
    if not attrs.has(cls):
        return False
    return set(ID_FIELDS[kind]) <= {f.name for f in attrs.fields(cls) if f.init}


# Type checks -------------------------------------------------------------------------

_SIMPLE: dict[Any, tuple[type, ...]] = {
    str: (str,),
    int: (int,),
    float: (float, int),
    bool: (bool,),
    dict: (dict,),
    list: (list,),
}


def _checker(hint: Any) -> tuple[Check | None, frozenset[type] | None]:
    """A check of the JSON form of a field annotated ``hint`` (None: accept anything),
    and the JSON types it lets through unchanged (None: it converts, or has no check)."""
    if hint is datetime:
        return parse_datetime, None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, UnionType):
        args = typing.get_args(hint)
        inner = [a for a in args if a is not NoneType]
        if len(inner) == 1 and len(args) == 2:
            check, allows = _checker(inner[0])
            if check is None:
                return None, None
            checked = check  # (for the closure: mypy does not narrow into it)
            return (
                lambda value: None if value is None else checked(value),
                None if allows is None else allows | {NoneType},
            )
        return None, None
    if origin in (Mapping, dict, typing.Mapping):
        return _is(dict), frozenset({dict})
    if origin is list:
        return _is(list), frozenset({list})
    if hint in _SIMPLE:
        return _is(*_SIMPLE[hint]), frozenset(_SIMPLE[hint])
    return None, None


def _is(*types: type) -> Check:
    def check(value: Any) -> Any:
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise TypeError(f"expected {'/'.join(t.__name__ for t in types)}, got {value!r:.80}")
        return value

    return check


def parse_datetime(value: Any) -> datetime:
    """An ISO 8601 string as a ``datetime``; TypeError/ValueError if it is none."""
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 timestamp string, got {value!r:.80}")
    return datetime.fromisoformat(value)


# Allocation --------------------------------------------------------------------------


def new_only_sets_ids(cls: Any, kind: str) -> bool:
    """Whether ``cls(...)`` allocates with the base's ``__new__`` and it sets only the ids."""
    base = _BASES[kind]
    if "__new__" not in vars(base) or cls.__new__ is not base.__new__:
        return False
    probe = base.__new__(cls)
    return _set_attributes(probe) == _NEW_FILLS[kind]


def _set_attributes(obj: object) -> set[str]:
    found = set(getattr(obj, "__dict__", ()))
    for klass in type(obj).__mro__:
        for name, value in vars(klass).items():
            if isinstance(value, MemberDescriptorType):  # a slot
                try:
                    value.__get__(obj, klass)
                except AttributeError:
                    continue
                found.add(name)
    return found
