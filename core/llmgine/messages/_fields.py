"""attrs field helpers shared by the core's concrete messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MemberDescriptorType
from typing import Any

import attrs

__all__ = ["kept", "mapping", "non_empty_str", "optional_id", "refuse_bus_fields", "slot_setter"]


def non_empty_str(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: ``value`` is a non-empty ``str``; the error names class and field."""
    if not isinstance(value, str):
        raise TypeError(
            f"{type(instance).__name__}.{attribute.name} must be a str, "
            f"got {type(value).__name__} {value!r}"
        )
    if not value:
        raise ValueError(f"{type(instance).__name__}.{attribute.name} must not be empty")


def optional_id(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: ``None`` or a non-empty ``str``."""
    if value is not None:
        non_empty_str(instance, attribute, value)


def mapping(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: ``value`` is a mapping (a dict of data)."""
    if value.__class__ is not dict and not isinstance(value, Mapping):  # (ABC checks are slow)
        raise TypeError(
            f"{type(instance).__name__}.{attribute.name} must be a mapping (e.g. a dict), "
            f"got {type(value).__name__} {value!r}"
        )


def kept(name: str) -> Any:
    """An attrs default that keeps the value the base class's ``__new__`` already set.

    Concrete core messages declare their ids as keyword-only attrs fields, so they
    can be given explicitly (and survive ``attrs.evolve``/pickling), while the
    value generated in ``__new__`` stays the default.
    """
    return attrs.Factory(lambda self: getattr(self, name), takes_self=True)


def slot_setter(cls: type, name: str) -> Callable[[object, object], None]:
    """The setter of slot ``name`` of ``cls`` (or its nearest base that has it): it sets
    it even on frozen subclasses, and costs less per call than ``object.__setattr__``
    (which looks the name up first)."""
    for klass in cls.__mro__:
        found = vars(klass).get(name)
        if isinstance(found, MemberDescriptorType):
            setter: Callable[[object, object], None] = found.__set__
            return setter
    raise TypeError(f"{cls.__qualname__} has no slot {name!r}")


def refuse_bus_fields(cls: type) -> None:
    """Refuse a message class that declares ``session_id``, which the bus fills: a field of
    that name would hide the bus's slot, and its messages would silently leave sessions."""
    own = vars(cls)
    if "session_id" in own.get("__annotations__", {}) or (
        "session_id" in own and not isinstance(own["session_id"], MemberDescriptorType)
    ):
        raise TypeError(
            f"{cls.__qualname__} declares 'session_id', which the bus fills on every message "
            "(the session it was published in: see docs/guide/sessions.md); name your field "
            "differently, e.g. 'conversation_id'"
        )
