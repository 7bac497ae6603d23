"""NaN and infinity: JSON has neither, so a message holding one must not be sent.

orjson writes ``NaN`` and ``±inf`` as ``null`` (the standard library writes
``NaN``/``Infinity``, which is not JSON): a consumer then refuses the message
(``invalid-fields``) or, for an optional field, reads ``None``. The publisher
finds them first. Which fields could hold a float is decided once per class from
the annotations (:func:`float_kinds`), so a message costs a check only for the
fields that may hold one: a test of the value for a ``float`` field, a walk of
the value for a container (or an unannotated field) that may hold floats inside.
A value that breaks its own annotation (a float in an ``int`` field) is not
looked at: a consumer refuses that as a wrong type anyway.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from math import isfinite
from types import NoneType, UnionType
from typing import Any, Literal
from uuid import UUID

__all__ = ["ATOMS", "DEEP", "SCALAR", "float_kinds", "nonfinite_path"]

#: the value itself may be a float (test it)
SCALAR = "scalar"
#: the value may hold floats inside it, at any depth (walk it)
DEEP = "deep"

#: annotations of values tested themselves, not walked
_SCALARS = (float, str, bytes, bool, int, NoneType, datetime, date, time, timedelta, UUID)
_SEQUENCES = (list, tuple, set, frozenset)
#: values a walk skips at once (exact classes: the common case in one set lookup)
ATOMS = frozenset({str, int, bool, NoneType})
#: orjson refuses nesting deeper than 254 levels itself
_MAX_DEPTH = 255


def float_kinds(cls: type, names: typing.Iterable[str]) -> dict[str, str]:
    """``{field name: SCALAR or DEEP}`` for the fields of ``cls`` among ``names``, judged by
    their annotations (none, or an unresolvable one: DEEP)."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable annotations (e.g. a local class): walk every field
        hints = {}
    return {name: _kind(hints.get(name, Any)) for name in names}


def _kind(hint: Any) -> str:
    """Whether a value annotated ``hint`` is tested itself (SCALAR) or walked (DEEP).

    Annotations are not enforced: a field annotated ``int`` or ``list[int]`` may hold
    a float, and one that orjson wrote as ``null`` would pass a consumer's check of an
    optional field or of a list's type unseen. So every field is looked at: a value
    annotated as a container (or not at all) is walked, any other tested itself (one
    class test when it is no float).
    """
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        return _kind(args[0])
    if origin in (typing.Union, UnionType):
        return DEEP if DEEP in {_kind(a) for a in args} else SCALAR
    if origin is Literal:
        return SCALAR
    if origin is not None:  # list[X], dict[K, V], Mapping[K, V], tuple[X, ...], ...
        return DEEP
    if isinstance(hint, type) and (issubclass(hint, _SCALARS) or issubclass(hint, enum.Enum)):
        return SCALAR
    return DEEP  # Any, object, a bare list or dict, a class orjson may serialize


def nonfinite_path(value: Any, depth: int = 0) -> tuple[str, float] | None:
    """Where in ``value`` the first NaN or infinite float is (``"['a'][2]"``, or ``""`` for
    ``value`` itself), and that float; ``None`` if it holds none."""
    cls = value.__class__
    if cls in ATOMS:
        return None
    if isinstance(value, float):
        return None if isfinite(value) else ("", value)
    if depth > _MAX_DEPTH:
        return None
    items: typing.Iterable[tuple[Any, Any]]
    if cls is dict or isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, _SEQUENCES):
        items = enumerate(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):  # orjson writes it
        items = ((_Attribute(f.name), getattr(value, f.name)) for f in dataclasses.fields(value))
    else:
        return None
    for key, item in items:
        if item.__class__ in ATOMS:
            continue
        found = nonfinite_path(item, depth + 1)
        if found is not None:
            step = f".{key}" if isinstance(key, _Attribute) else f"[{key!r}]"
            return step + found[0], found[1]
    return None


class _Attribute(str):
    """A dataclass field's name in a path (``.name``, not ``['name']``)."""
