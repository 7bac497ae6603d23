"""A message's ``fields`` on the wire and back, by the core's conversion.

:func:`~llmgine.messages.conversion.to_jsonable` gives the JSON values of a
message's own fields (its ids, timestamp and session excluded: they travel beside
``fields``), refusing NaN and infinities; :func:`~llmgine.messages.conversion.from_json`
builds the class from them, strictly typed, recursively, with the class's own
validation, and ignores what it does not know (a newer writer's fields, ids). The
ids, timestamp and session are then set on the built message, so they are the
sender's (a ``__post_init__`` or ``__init__`` sees fresh ones, as for any new message).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import attrs
from llmgine.messages.conversion import from_json, to_jsonable
from llmgine.messages.errors import MessageValidationError

from .errors import WireError

__all__ = ["build", "check_travels", "fields_of_message", "parse_datetime"]

#: the ids each kind travels with beside ``fields`` (``timestamp`` too, for events)
ID_NAMES = {
    "event": ("event_id", "correlation_id", "causation_id", "session_id"),
    "command": ("command_id", "correlation_id", "causation_id", "session_id"),
}
_set = object.__setattr__  # frozen classes too; runs ``timestamp``'s setter on a plain Event


def check_travels(cls: type) -> None:
    """Raise ``TypeError`` unless ``cls``'s instances can travel (attrs or dataclass fields)."""
    if not (attrs.has(cls) or dataclasses.is_dataclass(cls)):
        raise TypeError(
            f"{cls.__qualname__} must be an attrs or @dataclass class to travel over Redis "
            "(its fields are what is sent)"
        )


def fields_of_message(message: Any, kind: str, name: str) -> dict[str, Any]:
    """The JSON values of ``message``'s own fields, or :class:`WireError` ``invalid-fields``
    naming a field that holds a NaN or an infinity (which JSON cannot hold: orjson would
    write ``null``, which a consumer refuses or reads as ``None``)."""
    try:
        fields: dict[str, Any] = to_jsonable(message)
    except ValueError as exc:
        raise _refused(message, kind, name, str(exc)) from None
    return fields


def _refused(message: Any, kind: str, name: str, problem: str) -> WireError:
    ident = message.event_id if kind == "event" else message.command_id
    return WireError(
        "invalid-fields",
        f"cannot send {kind} {name} ({type(message).__qualname__}, id {ident}): {problem} "
        "(orjson would write null: consumers would refuse it, or read None in an optional "
        "field)",
    )


def build(
    cls: type,
    name: str,
    kind: str,
    fields: dict[str, Any],
    ids: tuple[str, Any, Any, Any],
    timestamp: datetime | None,
) -> Any:
    """A ``cls`` (registered as ``name``) from its wire ``fields``, with the sent ``ids``
    (id, correlation, causation, session) and ``timestamp`` (events); raises
    :class:`WireError` ``invalid-fields`` naming each field that is wrong."""
    try:
        message: Any = from_json(cls, fields, extra="ignore")
    except MessageValidationError as exc:
        raise WireError("invalid-fields", _describe(name, exc)) from None
    except Exception as exc:  # the class's own __init__ or __post_init__ refused
        raise WireError("invalid-fields", f"{name}: {type(exc).__name__}: {exc}") from None
    for attribute, value in zip(ID_NAMES[kind], ids, strict=True):
        _set(message, attribute, value)
    if timestamp is not None:
        _set(message, "timestamp", timestamp)
    return message


def _describe(name: str, error: MessageValidationError) -> str:
    """``name.path: problem`` for each field at fault, ``; ``-separated."""
    return "; ".join(
        f"{name}.{field.path}: {field.message}" if field.path else f"{name}: {field.message}"
        for field in error.errors
    )


def parse_datetime(value: Any) -> datetime:
    """An ISO 8601 string as a ``datetime``; TypeError/ValueError if it is none."""
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 timestamp string, got {value!r:.80}")
    return datetime.fromisoformat(value)
