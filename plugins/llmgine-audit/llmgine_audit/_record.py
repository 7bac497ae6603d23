"""Turning an event into one JSON line of the audit log."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping, Set
from datetime import date, datetime, time
from typing import Any

import attrs
from llmgine.messages.events import Event

__all__ = ["event_record", "to_json_line"]

#: Metadata every event has; written at the top level, not repeated under "data".
_META = ("event_type", "event_id", "timestamp", "correlation_id", "causation_id")


class _Unset:
    """The value written for a declared field the event never set (``field(init=False)``)."""

    def __repr__(self) -> str:
        return "<unset>"

    __str__ = __repr__


_UNSET = _Unset()


def event_record(event: Event) -> dict[str, Any]:
    """Return the audit record of ``event``: its metadata, class and fields (as a dict).

    Keys: ``event_type``, ``event_id``, ``timestamp`` (ISO 8601), ``correlation_id``,
    ``causation_id``, ``class`` (``module.QualName``) and ``data`` (the event's own
    fields: attrs or dataclass fields, or public instance attributes).
    """
    cls = type(event)
    return {
        "event_type": event.event_type,
        "event_id": event.event_id,
        "timestamp": event.timestamp.isoformat(),
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "class": f"{cls.__module__}.{cls.__qualname__}",
        # a field left unset must not lose the event: it is written as "<unset>"
        "data": {name: getattr(event, name, _UNSET) for name in _field_names(event)},
    }


def _field_names(event: Event) -> list[str]:
    cls = type(event)
    if attrs.has(cls):
        names = [f.name for f in attrs.fields(cls)]
    elif dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls)]
    else:
        names = [n for n in getattr(event, "__dict__", {}) if not n.startswith("_")]
    return [n for n in names if n not in _META]


def to_json_line(event: Event) -> bytes:
    """Return ``event``'s record as one line of UTF-8 JSON, ending in a newline.

    Values JSON cannot hold are converted (datetimes to ISO text, sets to lists,
    attrs/dataclass objects to dicts, anything else to ``str``). If the data still
    cannot be written (a cycle, a NaN, a failing ``__str__``), each field is written
    as its ``repr`` so the event is never lost.
    """
    record = event_record(event)
    try:
        text = _dumps(record)
    except Exception:
        record["data"] = {name: _safe_repr(value) for name, value in record["data"].items()}
        record["data_unserializable"] = True
        text = _dumps(record)
    return (text + "\n").encode("utf-8", "backslashreplace")


def _dumps(record: Mapping[str, Any]) -> str:
    return json.dumps(
        record, default=_default, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )


def _default(value: Any) -> Any:
    """``json.dumps`` fallback for a value it cannot write itself."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, Set):
        return sorted(value, key=repr)
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception as exc:  # a broken __repr__ must not lose the event
        return f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
