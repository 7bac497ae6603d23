"""Turning a registered class's instances into wire documents and back, compiled once per class.

Every received message runs this, and a generic loop over the fields (building a
dict of keyword arguments, then merging the ids into it) costs about as much as
the JSON parsing. So :func:`compile_builder` writes the function out for the
class, as attrs and dataclasses write ``__init__``: one line per field, the
field's type check inline. The source is made from the class's own field names
only (checked to be identifiers); the payload supplies values, never code.

Calling the class runs the base's ``__new__``, which makes fresh ids only for them
to be replaced (and a Python ``__new__`` makes the call itself several times
dearer). When that ``__new__`` provably sets nothing but the ids, the builder
allocates the instance itself, sets the ids, and runs ``__init__`` (with all of
the class's validation) as usual.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from math import isfinite
from typing import Any

from ._codec import ID_FIELDS, Field, ids_in_init, new_only_sets_ids
from ._finite import ATOMS, SCALAR, float_kinds, nonfinite_path
from .errors import WireError

__all__ = ["Builder", "compile_builder", "compile_document"]

#: (fields, id, timestamp (None for commands), correlation id, causation id, session id)
#: -> message; raises WireError for a missing or mistyped field, and what the class's
#: validation raises
Builder = Callable[[dict[str, Any], str, Any, Any, Any, Any], Any]
#: message -> its wire document, without ``trace`` and ``reply_to``
Document = Callable[[Any], dict[str, Any]]

#: The version of the wire format this code writes and reads.
FORMAT_VERSION = 1


def compile_document(cls: type, kind: str, name: str, fields: tuple[Field, ...]) -> Document:
    """The function that makes the wire document of a ``cls`` (without trace and reply_to).

    It raises :class:`WireError` (``invalid-fields``) for a NaN or infinite float in a
    field whose annotation lets it hold one (see :mod:`._finite`).
    """
    _check_names(cls, fields)
    checks = []
    for wire, kind_of in float_kinds(cls, [wire for wire, _, _, _ in fields]).items():
        if kind_of == SCALAR:
            checks += [
                f"    if isinstance(m.{wire}, float) and not isfinite(m.{wire}):",
                f"        refuse(m, {wire!r}, '', m.{wire})",
            ]
        else:  # DEEP
            checks += [
                f"    if m.{wire}.__class__ not in ATOMS:",
                f"        found = scan(m.{wire})",
                "        if found is not None:",
                f"            refuse(m, {wire!r}, *found)",
            ]
    ids = ["'id': m.event_id", "'ts': m.timestamp"] if kind == "event" else ["'id': m.command_id"]
    own = ", ".join(f"{wire!r}: m.{wire}" for wire, _, _, _ in fields)
    items = [
        f"'v': {FORMAT_VERSION}, 'kind': {kind!r}, 'type': type_name",
        *ids,
        "'correlation_id': m.correlation_id, 'causation_id': m.causation_id",
        "'session_id': m.session_id",
        f"'fields': {{{own}}}",
    ]
    source = "\n".join(["def document(m):", *checks, f"    return {{{', '.join(items)}}}"])
    namespace: dict[str, Any] = {
        "type_name": name,
        "isfinite": isfinite,
        "ATOMS": ATOMS,
        "scan": nonfinite_path,
        "refuse": _refuser(cls, kind, name),
    }
    exec(compile(source, f"<llmgine_redis document of {name}>", "exec"), namespace)
    document: Document = namespace["document"]
    return document


def _refuser(cls: type, kind: str, name: str) -> Callable[[Any, str, str, float], None]:
    """What a document function calls to refuse a message with a NaN or infinite float."""

    def refuse(message: Any, field: str, path: str, value: float) -> None:
        ident = message.event_id if kind == "event" else message.command_id
        raise WireError(
            "invalid-fields",
            f"cannot send {kind} {name} ({cls.__qualname__}, id {ident}): field "
            f"{field}{path} is {value!r}, and JSON has no NaN or infinity (it would arrive "
            "as null: refused by consumers, or None in an optional field); send a finite "
            "number, None or a string instead",
        )

    return refuse


def compile_builder(cls: type, kind: str, name: str, fields: tuple[Field, ...]) -> Builder:
    """The function that rebuilds a ``cls`` (registered as ``name``) from its parts."""
    _check_names(cls, fields)
    namespace: dict[str, Any] = {
        "cls": cls,
        "new": object.__new__,
        "init": cls.__init__,  # type: ignore[misc]
        "set_": object.__setattr__,  # (frozen classes too)
        "WireError": WireError,
        "ABSENT": _ABSENT,
    }
    lines = ["def build(fields, ident, timestamp, correlation, causation, session):"]
    required: list[str] = []
    optional: list[tuple[str, str]] = []  # (argument, variable)
    for i, (wire, argument, has_default, check) in enumerate(fields):
        if check is not None:
            namespace[f"check{i}"] = check
        if has_default:
            lines += _read_optional(i, wire, name, check)
            optional.append((argument, f"value{i}"))
        else:
            lines += _read(i, wire, name, check)
            required.append(f"{argument}=value{i}")
    lines += _construct(cls, kind, required, optional)
    lines.append("    return message")
    exec(compile("\n".join(lines), f"<llmgine_redis builder for {name}>", "exec"), namespace)
    build: Builder = namespace["build"]
    return build


def _check_names(cls: type, fields: tuple[Field, ...]) -> None:
    # (the class's own __init__ and attributes could not have other names either)
    for name in {n for wire, argument, _, _ in fields for n in (wire, argument)}:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise TypeError(f"{cls.__qualname__}: field {name!r} is not a Python name")


_ID_VARIABLES = {
    "event_id": "ident",
    "command_id": "ident",
    "timestamp": "timestamp",
    "correlation_id": "correlation",
    "causation_id": "causation",
}


def _construct(
    cls: type, kind: str, required: list[str], optional: list[tuple[str, str]]
) -> list[str]:
    """Lines that set ``message`` to the instance, with its ids."""
    id_pairs = [(field, _ID_VARIABLES[field]) for field in ID_FIELDS[kind]]
    with_ids = ids_in_init(cls, kind)
    given = [f"{field}={variable}" for field, variable in id_pairs] if with_ids else []
    setting = [] if with_ids else [f"    set_(message, {f!r}, {v})" for f, v in id_pairs]
    fast = new_only_sets_ids(cls, kind)
    lines = []
    if fast:
        lines.append("    message = new(cls)")
        lines += setting  # before __init__, so that __post_init__ sees them
        lines.append("    set_(message, 'session_id', session)")
    call = "init(message, {})" if fast else "message = cls({})"
    # Keyword arguments only: a call with **kwargs builds a dict, so it is kept for
    # messages that leave some optional field out.
    every = [*required, *(f"{a}={v}" for a, v in optional), *given]
    if optional:
        absent = " or ".join(f"{v} is ABSENT" for _, v in optional)
        present = ", ".join(f"({a!r}, {v})" for a, v in optional)
        some = f"**{{a: v for a, v in ({present},) if v is not ABSENT}}"
        lines.append(f"    if {absent}:")
        lines.append("        " + call.format(", ".join([*required, some, *given])))
        lines.append("    else:")
        lines.append("        " + call.format(", ".join(every)))
    else:
        lines.append("    " + call.format(", ".join(every)))
    # Set (again) afterwards too: the sent ids win over any an __init__ chose. (A
    # session id is no __init__ argument: only the base's __new__ sets it, to None.)
    session = (
        []
        if fast
        else ["    if session is not None:", "        set_(message, 'session_id', session)"]
    )
    return lines + setting + session


def _read(i: int, wire: str, name: str, check: object) -> list[str]:
    """Lines that set ``value{i}`` from ``fields[wire]``, checked, or raise WireError."""
    missing = f"{name} is missing required field {wire!r}"
    return [
        "    try:",
        f"        value{i} = fields[{wire!r}]",
        "    except KeyError:",
        f"        raise WireError('invalid-fields', {missing!r}) from None",
        *_check(i, wire, name, check, "    "),
    ]


def _read_optional(i: int, wire: str, name: str, check: object) -> list[str]:
    """Lines that set ``value{i}`` from ``fields[wire]``, checked, or to ABSENT."""
    lines = [f"    value{i} = fields.get({wire!r}, ABSENT)"]
    if check is not None:
        lines.append(f"    if value{i} is not ABSENT:")
        lines += _check(i, wire, name, check, "        ")
    return lines


def _check(i: int, wire: str, name: str, check: object, indent: str) -> list[str]:
    if check is None:
        return []
    prefix = f"{name}.{wire}: "
    lines = [
        "try:",
        f"    value{i} = check{i}(value{i})",
        "except (TypeError, ValueError) as exc:",
        f"    raise WireError('invalid-fields', {prefix!r} + str(exc)) from None",
    ]
    return [indent + line for line in lines]


_ABSENT = object()
