"""The wire format (version 1) and the registry of wire type names.

A stream entry has one field, ``m``, holding a UTF-8 JSON object::

    {"v": 1, "kind": "event", "type": "llmgine.ResourceCreatedEvent",
     "id": "<event_id>", "ts": "2026-11-24T02:00:00.123456+00:00",
     "correlation_id": "...", "causation_id": null,
     "fields": {"resource_id": "r1", "resource_type": "doc", "resource_data": {}},
     "trace": {"traceparent": "00-...-01"},          # only when present
     "reply_to": "llmgine:reply:<command_id>"}        # commands only

Key order carries no meaning. Commands have ``"kind": "command"`` and no
``ts``. ``fields`` holds the class's own ``__init__`` fields (attrs or
dataclass), as JSON values; ``datetime`` fields travel as ISO 8601 strings. A
reader ignores fields it does not know and fills missing ones that have
defaults, so services can be deployed one at a time.

Decoding looks the ``type`` up in the registry and nowhere else: a name that was
not registered with :func:`register_type` is rejected (no imports, no pickle, no
class paths from the payload), and so is anything malformed, oversized or of the
wrong field types; :class:`WireError` says why.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs
from llmgine.messages import commands as _commands
from llmgine.messages import events as _events
from llmgine.messages.commands import Command
from llmgine.messages.events import Event

from ._builder import FORMAT_VERSION, Builder, Document, compile_builder, compile_document
from ._codec import Field, WireError, fields_of, parse_datetime
from ._config import check_not_reserved

__all__ = ["FORMAT_VERSION", "WireError", "decode", "encode", "register_type", "registered"]


@attrs.frozen
class _Spec:
    cls: type
    name: str
    kind: str
    fields: tuple[Field, ...]
    #: an instance's wire document (what encode() calls)
    document: Document = attrs.field(init=False)
    #: rebuilds an instance from its parts (what decode() calls)
    build: Builder = attrs.field(init=False)

    @document.default
    def _document(self) -> Document:
        return compile_document(self.cls, self.kind, self.name, self.fields)

    @build.default
    def _build(self) -> Builder:
        return compile_builder(self.cls, self.kind, self.name, self.fields)


_by_name: dict[str, _Spec] = {}
_by_class: dict[type, _Spec] = {}


def register_type(cls: type, name: str) -> None:
    """Make ``cls`` (an attrs or dataclass Event/Command subclass) travel as ``name``.

    Every service that sends or receives the type must register it under the same
    name. Raises ``ValueError`` if the name is taken by another class, the class
    already has another name or the name ends in ``:dead`` or contains ``:seen:`` or
    ``:consumers:`` (a remote command's stream is named after it, and those mark the
    keys derived from a stream), ``TypeError`` for a class that is not an attrs or
    dataclass Event/Command.
    """
    if not isinstance(name, str) or not name or len(name) > 200 or any(c.isspace() for c in name):
        raise ValueError(f"wire name must be a non-empty str without spaces, got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Event | Command)):
        raise TypeError(f"register_type() needs an Event or Command subclass, got {cls!r}")
    check_not_reserved(name, f"wire name {name!r} of {cls.__qualname__}")
    kind = "event" if issubclass(cls, Event) else "command"
    spec = _Spec(cls, name, kind, fields_of(cls))
    taken = _by_name.get(name)
    if taken is not None and taken.cls is not cls:
        raise ValueError(
            f"wire name {name!r} is already used by {taken.cls.__qualname__}; "
            f"choose another name for {cls.__qualname__}"
        )
    known = _by_class.get(cls)
    if known is not None and known.name != name:
        raise ValueError(f"{cls.__qualname__} is already registered as {known.name!r}")
    _by_name[name] = spec
    _by_class[cls] = spec


def registered() -> dict[str, type]:
    """Return ``{wire name: class}`` for every registered type."""
    return {name: spec.cls for name, spec in _by_name.items()}


def spec_of(cls: type) -> _Spec | None:
    """The registration of ``cls`` (exact class), if any."""
    return _by_class.get(cls)


def _json_default(value: Any) -> Any:
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
    _dumps: Callable[[Any], bytes] = functools.partial(orjson.dumps, default=_json_default)

    _loads: Callable[[bytes | str], Any] = orjson.loads
except ImportError:  # pragma: no cover
    # One encoder for all: json.dumps() with options builds a new one per call.
    _encode = json.JSONEncoder(separators=(",", ":"), default=_json_default).encode

    def _dumps(doc: Any) -> bytes:
        return _encode(doc).encode()

    _loads = json.loads


def encode(
    message: Event | Command[Any],
    spec: _Spec,
    trace: Mapping[str, str] | None = None,
    reply_to: str | None = None,
) -> bytes:
    """Return the ``m`` field for ``message`` (its class registered as ``spec``)."""
    doc = spec.document(message)
    if trace:
        doc["trace"] = dict(trace)
    if reply_to is not None:
        doc["reply_to"] = reply_to
    try:
        return _dumps(doc)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"cannot send {spec.kind} {spec.name} ({type(message).__qualname__}) over Redis: "
            f"{exc}; its fields must hold JSON values (str, int, float, bool, None, list, dict), "
            "datetimes or mappings"
        ) from exc


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
    spec: _Spec | None = None
    try:  # the common case in one test; any doubt takes the checks below, with the reason
        if doc["v"] == FORMAT_VERSION and doc["kind"] == kind:
            spec = _by_name.get(doc["type"])
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
        f"{kind} type {name!r:.120} is not registered here "
        "(llmgine_redis.register_type(cls, name) in this service)",
    )


def _build(spec: _Spec, doc: dict[str, Any]) -> Any:
    # The checks are written out: this runs for every message received.
    fields = doc.get("fields", _NO_FIELDS)
    if fields.__class__ is not dict:
        raise WireError("invalid-fields", f"'fields' of {spec.name} is not a JSON object")
    ident = doc.get("id")
    correlation = doc.get("correlation_id")
    causation = doc.get("causation_id")
    if not (
        ident.__class__ is str
        and ident
        and (correlation is None or (correlation.__class__ is str and correlation))
        and (causation is None or (causation.__class__ is str and causation))
    ):
        raise _bad_ids(spec, ident, correlation)
    timestamp = None
    if spec.kind == "event":
        try:
            timestamp = parse_datetime(doc.get("ts"))
        except (TypeError, ValueError) as exc:
            raise WireError("invalid-fields", f"{spec.name}.ts: {exc}") from None
        if timestamp.tzinfo is None:
            raise WireError("invalid-fields", f"{spec.name}.ts has no time zone")
    try:
        return spec.build(fields, ident, timestamp, correlation, causation)
    except WireError:
        raise
    except Exception as exc:  # the class's own validation
        raise WireError("invalid-fields", f"{spec.name}: {type(exc).__name__}: {exc}") from None


_NO_FIELDS: dict[str, Any] = {}


def _bad_ids(spec: _Spec, ident: object, correlation: object) -> WireError:
    if not (isinstance(ident, str) and ident):
        return WireError("invalid-fields", f"{spec.name} has no string 'id'")
    label = "causation_id" if _optional_id(correlation) else "correlation_id"
    return WireError("invalid-fields", f"{spec.name}.{label} must be a string or null")


def _optional_id(value: object) -> bool:
    return value is None or (isinstance(value, str) and value != "")


def _register_core() -> None:
    for module in (_events, _commands):
        for attr in module.__all__:
            cls = getattr(module, attr)
            if isinstance(cls, type) and cls not in (Event, Command) and attrs.has(cls):
                register_type(cls, f"llmgine.{cls.__name__}")


_register_core()
