"""Which annotations have a JSON form: one answer for the converter and the schema.

cattrs can convert more than JSON should carry (``bytes`` from a list of ints,
a ``Path`` from any string, a ``TypedDict`` without checks): the converter refuses
every annotation that :func:`problem` finds fault with, so that what
:func:`~llmgine.messages.conversion.from_json` accepts is what
:func:`~llmgine.messages.conversion.json_schema` describes.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Mapping, MutableMapping, MutableSequence, MutableSet, Sequence
from collections.abc import Set as AbstractSet
from datetime import date, datetime
from types import NoneType, UnionType
from typing import Any, Final, Literal
from uuid import UUID

import attrs

__all__ = ["is_class", "is_scalar_union", "problem", "unwrap"]

SCALARS = frozenset({str, int, float, bool, NoneType, datetime, date, UUID})
_SEQUENCES = frozenset(
    {list, tuple, set, frozenset, Sequence, MutableSequence, AbstractSet, MutableSet}
)
_MAPPINGS = frozenset({dict, Mapping, MutableMapping})
_UNIONS = (typing.Union, UnionType)


def is_class(tp: Any) -> bool:
    """An attrs or dataclass class (a JSON object of its fields)."""
    return isinstance(tp, type) and (attrs.has(tp) or dataclasses.is_dataclass(tp))


def unwrap(tp: Any) -> Any:
    """``tp`` without ``Annotated``, ``Final`` and ``NewType`` wrappers."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated or origin is Final:
            tp = typing.get_args(tp)[0]
        elif isinstance(tp, typing.NewType):
            tp = tp.__supertype__
        else:
            return tp


def problem(tp: Any) -> str | None:
    """Why the annotation ``tp`` has no JSON form (its outer layer only), or ``None``."""
    tp = unwrap(tp)
    if tp is Any or tp is object or tp in SCALARS or tp is None:
        return None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return (
            None if not issubclass(tp, enum.Flag) else f"{tp.__qualname__} is a Flag: no JSON form"
        )
    if is_class(tp):
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal or origin in _UNIONS:
        return None
    if is_class(origin):  # a generic class: Box[int]
        return None
    if tp in _SEQUENCES or origin in _SEQUENCES:
        return None
    if tp in _MAPPINGS or origin in _MAPPINGS:
        key = unwrap(args[0]) if args else str
        if key is str or key is Any:
            return None
        return f"{tp!r} has keys of type {key!r}, and JSON object keys are strings"
    return f"{tp!r} has no JSON form"


def is_scalar_union(tp: Any) -> bool:
    """A union of scalars, literals and enums (``int | str``): tried member by member."""
    if typing.get_origin(tp) not in _UNIONS:
        return False
    members = [unwrap(m) for m in typing.get_args(tp) if m is not NoneType]
    if len(members) < 2:
        return False  # X | None: cattrs' own optional handling, then X's hook
    return all(
        m in SCALARS
        or typing.get_origin(m) is Literal
        or (isinstance(m, type) and issubclass(m, enum.Enum))
        for m in members
    )
