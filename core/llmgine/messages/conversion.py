"""Messages to and from JSON, validated: for input from models and other services.

A command's arguments often come from a model's tool call or another service: JSON
that nobody has checked. :func:`from_json` builds a message from it, or raises one
:class:`~llmgine.messages.errors.MessageValidationError` naming every bad field::

    from_json(Order, '{"items": [{"sku": "a", "qty": "ten"}]}')
    # MessageValidationError: invalid Order: 1 error
    #   items[0].qty: expected integer, got "ten"

Types are checked, not coerced (``"10"`` is no integer), recursively through nested
attrs and dataclass classes, ``list``/``tuple``/``set``, ``dict[str, X]``,
``Literal``, enums, ``X | None``, ``datetime``/``date`` (ISO 8601 strings) and
``UUID``; then the class is called, so its own validators run. The bus's meta
fields (:func:`meta_fields`: an event's :data:`EVENT_META`, a command's
:data:`COMMAND_META`: the ids, timestamp and session) are never taken from input.
:func:`to_json` and :func:`to_jsonable` go the other way, and :func:`json_schema`
describes what :func:`from_json` accepts.

The conversion is cattrs' (attrs' companion library), configured as
:mod:`llmgine.messages._converter` says.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from cattrs.errors import BaseValidationError, StructureHandlerNotFoundError

from ._conversion_errors import field_errors, nonfinite_path
from ._converter import COMMAND_META, EVENT_META, FAST, LENIENT, META_FIELDS, STRICT, meta_fields
from ._json_scalars import describe
from ._json_schema import json_schema
from .errors import FieldError, MessageValidationError

__all__ = [
    "COMMAND_META",
    "EVENT_META",
    "META_FIELDS",
    "check_convertible",
    "from_json",
    "json_schema",
    "meta_fields",
    "to_json",
    "to_jsonable",
]

T = TypeVar("T")

#: extra -> (fast converter, detailed converter)
_CONVERTERS = {"forbid": (FAST[STRICT], STRICT), "ignore": (FAST[LENIENT], LENIENT)}


def from_json(
    cls: type[T],
    data: str | bytes | bytearray | Any,
    *,
    extra: Literal["forbid", "ignore"] = "forbid",
) -> T:
    """Build a ``cls`` (an attrs or dataclass class, message or not) from JSON.

    ``data`` is a JSON document (``str``, ``bytes``) or JSON values already parsed
    (a ``dict``). ``extra="forbid"`` (the default, for untrusted input such as tool
    arguments) makes unknown keys and meta fields errors; ``extra="ignore"`` skips
    them (a transport reading messages from newer senders).

    Raises :class:`~llmgine.messages.errors.MessageValidationError` listing every
    bad field, including what the class's own validators raise, and ``TypeError``
    if ``cls`` holds an annotation that cannot be converted (naming it).
    """
    converters = _CONVERTERS.get(extra)
    if converters is None:
        raise ValueError(f"extra must be 'forbid' or 'ignore', got {extra!r}")
    if data.__class__ is not dict:
        data = _parsed(cls, data)
    fast, detailed = converters
    try:
        return fast.structure(data, cls)
    except StructureHandlerNotFoundError as exc:
        raise TypeError(
            f"cannot convert JSON to {getattr(cls, '__qualname__', cls)}: {exc} (the "
            "annotations from_json supports are listed in docs/guide/validation.md)"
        ) from None
    except Exception as exc:  # bad input: convert again, to find every bad field
        first = exc
    try:
        return detailed.structure(data, cls)  # (a validator that fails only once)
    except BaseValidationError as exc:
        try:
            errors = field_errors(exc)[:_MAX_ERRORS]
        except RecursionError:  # (the exceptions nest as deep as the input)
            errors = [FieldError("", "nested too deeply")]
        raise MessageValidationError(cls, errors) from None
    except RecursionError:
        raise MessageValidationError(cls, [FieldError("", "nested too deeply")]) from None
    except (TypeError, ValueError) as exc:  # the class's own validation of the whole
        raise MessageValidationError(cls, field_errors(exc)) from exc
    except Exception:
        raise first from None


def check_convertible(cls: type) -> None:
    """Raise ``TypeError`` naming the field if :func:`from_json` cannot build ``cls``.

    What a transport calls when a class is first named for it, so that a class that
    cannot travel fails once, for its sender, rather than each of its messages.
    """
    name = getattr(cls, "__qualname__", repr(cls))
    try:
        json_schema(cls)  # (names the field whose annotation has no JSON form)
        for converter in (FAST[LENIENT], LENIENT):
            converter.get_structure_hook(cls)
    except (TypeError, StructureHandlerNotFoundError) as exc:
        raise TypeError(f"{name} cannot be converted from JSON: {exc}") from None


def _parsed(cls: type, data: Any) -> Any:
    if isinstance(data, str | bytes | bytearray):
        try:
            return _decode(data.decode() if not isinstance(data, str) else data)
        except ValueError as exc:
            raise MessageValidationError(cls, [FieldError("", f"not valid JSON: {exc}")]) from None
        except RecursionError:
            raise MessageValidationError(cls, [FieldError("", "nested too deeply")]) from None
    if isinstance(data, Mapping):
        return dict(data)
    raise MessageValidationError(cls, [FieldError("", f"expected object, got {describe(data)}")])


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400: JSON allows it, but no float holds it
        raise ValueError(f"{text[:40]} is out of range for a float")
    return value


# one decoder: json.loads() with options would build a new one per call
_decode = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite).decode

#: the errors a MessageValidationError keeps: a flood of bad items says no more than this
_MAX_ERRORS = 100


def to_jsonable(value: Any) -> Any:
    """``value`` as JSON values: messages and attrs/dataclass instances as objects of
    their fields (without :data:`META_FIELDS`), datetimes and dates as ISO 8601
    strings, UUIDs as strings, enums as their values, tuples and sets as arrays.

    Raises ``ValueError`` naming the path of a NaN or infinite float (JSON has
    none). Values of other types are returned as they are (a JSON encoder then
    refuses them: :func:`to_json` does).
    """
    try:
        return STRICT.unstructure(value)
    except ValueError as exc:
        where = nonfinite_path(value)
        if where is None:
            raise
        raise ValueError(
            f"{type(value).__qualname__}{'.' * bool(where)}{where}: {exc} (JSON has no NaN or "
            "infinity); "
            "use a finite number, None or a string"
        ) from None


def to_json(message: Any) -> str:
    """The compact JSON of ``message``'s own fields: what :func:`from_json` rebuilds it from.

    Raises ``ValueError`` for a NaN or infinite float (naming the field) and
    ``TypeError`` for a value JSON cannot hold.
    """
    values = to_jsonable(message)
    try:
        return json.dumps(values, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except TypeError as exc:
        raise TypeError(f"cannot write {type(message).__qualname__} as JSON: {exc}") from None
