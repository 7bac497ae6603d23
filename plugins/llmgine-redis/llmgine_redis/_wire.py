"""The wire format (version 1), with the wire names of the core's message catalogue.

A stream entry has one field, ``m``, holding a UTF-8 JSON object::

    {"v": 1, "kind": "event", "type": "llmgine.ResourceCreatedEvent",
     "id": "<event_id>", "ts": "2026-11-24T02:00:00.123456+00:00",
     "correlation_id": "...", "causation_id": null, "session_id": null,
     "fields": {"resource_id": "r1", "resource_type": "doc", "resource_data": {}},
     "trace": {"traceparent": "00-...-01"},          # only when present
     "reply_to": "llmgine:reply:<command_id>"}        # commands only

Key order carries no meaning (``session_id``, added in 0.3, may be missing: ``null``
then; a reader of 0.2 ignores it). Commands have ``"kind": "command"`` and no
``ts``. ``fields`` holds the class's own ``__init__`` fields (attrs or
dataclass), as JSON values; ``datetime`` fields travel as ISO 8601 strings. A
reader ignores fields it does not know and fills missing ones that have
defaults, so services can be deployed one at a time.

Decoding looks the ``type`` up in the message catalogue
(``llmgine.plugins.get_message_catalog()``, filled by the plugins'
``register_messages`` hooks) and nowhere else: a name not there is rejected (no
imports, no pickle, no class paths from the payload), and so is anything
malformed, oversized or of the wrong field types; :class:`WireError` says why.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs
from llmgine.messages.commands import Command
from llmgine.messages.events import Event
from llmgine.plugins import get_message_catalog

from ._codec import build, check_travels, fields_of_message, parse_datetime
from ._config import check_not_reserved
from .errors import WireError

__all__ = [
    "FORMAT_VERSION",
    "Spec",
    "WireError",
    "decode",
    "encode",
    "register_type",
    "registered",
    "spec_of",
]

#: The version of the wire format this code writes and reads.
FORMAT_VERSION = 1


@attrs.frozen
class Spec:
    """How one class travels under one wire name (from the catalogue's entry)."""

    cls: type
    name: str
    kind: str


# Specs by class: derived from the catalogue, never configuration. An entry
# is used only while the catalogue still gives its class the same name, so it cannot
# go stale; a class's spec depends on nothing but the class and that name.
_specs: dict[type, Spec] = {}


def spec_of(cls: type) -> Spec | None:
    """How ``cls`` (exactly) travels, or ``None`` if the message catalogue does not name it.

    Raises ``ValueError`` naming the class and who registered it if its wire name
    breaks a Redis key rule (:func:`~llmgine_redis._config.check_not_reserved`).
    """
    name = get_message_catalog().name_of(cls)
    if name is None:
        return None
    spec = _specs.get(cls)
    if spec is None or spec.name != name:
        spec = _make_spec(cls, name)
    return spec


def _make_spec(cls: type, name: str) -> Spec:
    source = get_message_catalog().source_of(name)
    check_not_reserved(name, f"wire name {name!r} of {cls.__qualname__} (registered by {source})")
    kind = "event" if issubclass(cls, Event) else "command"
    check_travels(cls)
    spec = Spec(cls, name, kind)
    _specs[cls] = spec
    return spec


def _spec_named(name: Any) -> Spec | None:
    cls = get_message_catalog().class_of(name)
    if cls is None:
        return None
    spec = _specs.get(cls)
    if spec is not None and spec.name == name:
        return spec
    try:
        return spec_of(cls)
    except (TypeError, ValueError):  # a name or class that cannot travel: as if unknown
        return None


def register_type(cls: type, name: str) -> None:
    """Deprecated: register ``cls`` in the message catalogue as ``name`` (for the application).

    Use the ``register_messages(register)`` hook of a plugin, or
    ``llmgine.plugins.get_message_catalog().register(cls, name, source=...)``. Raises
    ``ValueError`` if the name is taken by another class, the class already has
    another name or the name breaks a Redis key rule, ``TypeError`` for a class that
    is not an attrs or dataclass Event/Command.
    """
    warnings.warn(
        "llmgine_redis.register_type(cls, name) is deprecated and goes in 0.3: name the "
        "class in your plugin's register_messages(register) hook (register(cls, name)), or "
        "call llmgine.plugins.get_message_catalog().register(cls, name, source='application')",
        DeprecationWarning,
        stacklevel=2,
    )
    if isinstance(name, str):
        check_not_reserved(name, f"wire name {name!r} of {getattr(cls, '__qualname__', cls)}")
    if isinstance(cls, type) and issubclass(cls, Event | Command):
        check_travels(cls)  # TypeError now for a class that could not travel
    get_message_catalog().register(cls, name, source="application")


def registered() -> dict[str, type]:
    """Return ``{wire name: class}`` for every message that may travel (the catalogue's)."""
    return dict(get_message_catalog().names())


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"{type(value).__name__} {value!r:.80} is not JSON-serializable")


try:  # orjson is a dependency; the standard library is the fallback (same format)
    import orjson

    # orjson writes a datetime as isoformat() does, without the call to it.
    _dumps: Callable[[Any], bytes] = functools.partial(orjson.dumps, default=json_default)

    _loads: Callable[[bytes | str], Any] = orjson.loads
except ImportError:  # pragma: no cover
    # One encoder for all: json.dumps() with options builds a new one per call.
    _encode = json.JSONEncoder(separators=(",", ":"), default=json_default).encode

    def _dumps(doc: Any) -> bytes:
        return _encode(doc).encode()

    _loads = json.loads


def encode(
    message: Event | Command[Any],
    spec: Spec,
    trace: Mapping[str, str] | None = None,
    reply_to: str | None = None,
    max_bytes: int | None = None,
) -> bytes:
    """Return the ``m`` field for ``message`` (its class registered as ``spec``).

    Refuses what a consumer would refuse or change: a NaN or infinite float
    (:class:`WireError` ``invalid-fields``, naming the field) and, with
    ``max_bytes`` (the ``max_entry_bytes`` setting, which every consumer must share),
    a larger entry (``oversized``).
    """
    doc = _document(message, spec)
    if trace:
        doc["trace"] = dict(trace)
    if reply_to is not None:
        doc["reply_to"] = reply_to
    try:
        data = _dumps(doc)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"cannot send {spec.kind} {spec.name} ({type(message).__qualname__}) over Redis: "
            f"{exc}; its fields must hold JSON values (str, int, float, bool, None, list, dict), "
            "datetimes or mappings"
        ) from exc
    if max_bytes is not None and len(data) > max_bytes:
        raise _oversized(message, spec, len(data), max_bytes)
    return data


def _document(message: Any, spec: Spec) -> dict[str, Any]:
    """The wire document of ``message``, without ``trace`` and ``reply_to``."""
    event = spec.kind == "event"
    doc = {
        "v": FORMAT_VERSION,
        "kind": spec.kind,
        "type": spec.name,
        "id": message.event_id if event else message.command_id,
    }
    if event:
        doc["ts"] = message.timestamp
    doc["correlation_id"] = message.correlation_id
    doc["causation_id"] = message.causation_id
    doc["session_id"] = message.session_id
    doc["fields"] = fields_of_message(message, spec.kind, spec.name)
    return doc


def _oversized(message: Any, spec: Spec, size: int, limit: int) -> WireError:
    ident = message.event_id if spec.kind == "event" else message.command_id
    return WireError(
        "oversized",
        f"cannot send {spec.kind} {spec.name} ({type(message).__qualname__}, id {ident}): it "
        f"encodes to {size} bytes, over the limit of {limit} (setting max_entry_bytes), so "
        "every consumer with that setting would dead-letter it as 'oversized'; send less "
        "(e.g. store the payload elsewhere and send a reference to it), or raise "
        "max_entry_bytes in every service that sends or reads this stream",
    )


def decode(raw: object, kind: str, max_bytes: int) -> tuple[Any, dict[str, Any]]:
    """Decode an entry's ``m`` field into (message, document); raises :class:`WireError`."""
    if not isinstance(raw, (bytes, str)):
        raise WireError("malformed", "entry has no 'm' field holding the JSON message")
    if len(raw) > max_bytes:
        raise WireError("oversized", f"message is {len(raw)} bytes, the limit is {max_bytes}")
    try:
        doc = _loads(raw)
    except (ValueError, RecursionError) as exc:
        raise WireError("malformed", f"not valid JSON: {exc}") from None
    spec: Spec | None = None
    try:  # the common case in one test; any doubt takes the checks below, with the reason
        if doc["v"] == FORMAT_VERSION and doc["kind"] == kind:
            spec = _spec_named(doc["type"])
    except (TypeError, KeyError):  # not an object, a missing key, an unhashable type name
        pass
    if spec is not None and spec.kind == kind:
        return _build(spec, doc), doc
    if not isinstance(doc, dict):
        raise WireError("malformed", "message is not a JSON object")
    version = doc.get("v")
    if version is None:
        raise WireError("malformed", "message has no format version 'v'")
    if version != FORMAT_VERSION:
        raise WireError("unsupported-version", f"format version {version!r}; this reader knows 1")
    if doc.get("kind") != kind:
        raise WireError("malformed", f"expected kind {kind!r}, got {doc.get('kind')!r:.80}")
    name = doc.get("type")
    raise WireError(
        "unknown-type",
        f"{kind} type {name!r:.120} is not registered here (a plugin of this service names "
        "the class in its register_messages(register) hook)",
    )


def _build(spec: Spec, doc: dict[str, Any]) -> Any:
    # The checks are written out: this runs for every message received.
    fields = doc.get("fields", _NO_FIELDS)
    if fields.__class__ is not dict:
        raise WireError("invalid-fields", f"'fields' of {spec.name} is not a JSON object")
    ident = doc.get("id")
    correlation = doc.get("correlation_id")
    causation = doc.get("causation_id")
    session = doc.get("session_id")
    if not (
        ident.__class__ is str
        and ident
        and (correlation is None or (correlation.__class__ is str and correlation))
        and (causation is None or (causation.__class__ is str and causation))
        and (session is None or (session.__class__ is str and session))
    ):
        raise _bad_ids(spec, ident, correlation, causation)
    timestamp = None
    if spec.kind == "event":
        try:
            timestamp = parse_datetime(doc.get("ts"))
        except (TypeError, ValueError) as exc:
            raise WireError("invalid-fields", f"{spec.name}.ts: {exc}") from None
        if timestamp.tzinfo is None:
            raise WireError("invalid-fields", f"{spec.name}.ts has no time zone")
    ids = (ident, correlation, causation, session)
    return build(spec.cls, spec.name, spec.kind, fields, ids, timestamp)


_NO_FIELDS: dict[str, Any] = {}


def _bad_ids(spec: Spec, ident: object, correlation: object, causation: object) -> WireError:
    if not (isinstance(ident, str) and ident):
        return WireError("invalid-fields", f"{spec.name} has no string 'id'")
    label = (
        "correlation_id"
        if not _optional_id(correlation)
        else "causation_id"
        if not _optional_id(causation)
        else "session_id"
    )
    return WireError("invalid-fields", f"{spec.name}.{label} must be a string or null")


def _optional_id(value: object) -> bool:
    return value is None or (isinstance(value, str) and value != "")
