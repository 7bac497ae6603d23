"""Messages that travel: the wire names of the event and command classes a transport may carry.

Plugins name their transportable messages in the ``register_messages(register)`` hook;
``register(cls)`` uses :func:`default_wire_name`, ``register(cls, "a.wire.name")`` an
explicit name. A transport (e.g. llmgine-redis) looks classes and names up here and
nowhere else, so that no payload can name an arbitrary class to build.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..messages.commands import Command
from ..messages.events import Event
from .errors import WireNameClash

__all__ = ["MessageCatalog", "RegisterMessage", "WireNameClash", "default_wire_name"]

_MAX_NAME = 200


def default_wire_name(cls: type) -> str:
    """``module.QualifiedName`` of ``cls``: the wire name ``register(cls)`` gives it.

    E.g. ``acme_billing.messages.InvoicePaid``. A class that moves to another module
    changes its default name, so a class whose services are deployed one at a time
    should be registered with an explicit name.
    """
    return f"{cls.__module__}.{cls.__qualname__}"


class RegisterMessage(Protocol):
    """The ``register`` callback a plugin's ``register_messages`` hook receives."""

    def __call__(self, cls: type[Event] | type[Command[Any]], name: str | None = None, /) -> None:
        """Let ``cls`` cross a transport as ``name`` (default: :func:`default_wire_name`)."""


class MessageCatalog:
    """Wire name <-> class, with who registered each (``source``, e.g. ``plugin 'x'``).

    Thread-safe. A name belongs to one class and a class has one name; registering
    the same pair again is a no-op.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, type] = {}
        self._by_class: dict[type, str] = {}
        self._sources: dict[str, str] = {}

    def register(self, cls: type, name: str | None = None, *, source: str) -> str:
        """Record ``cls`` under ``name`` (or its default name) for ``source``; return the name.

        Raises :class:`TypeError` for a class that is not an Event or Command subclass,
        :class:`ValueError` for a malformed name, and :class:`WireNameClash` (naming
        both sources) when the name or the class is already taken otherwise.
        """
        if not (isinstance(cls, type) and issubclass(cls, Event | Command)):
            raise TypeError(f"{source}: register() needs an Event or Command subclass, got {cls!r}")
        wire = default_wire_name(cls) if name is None else name
        if (
            not isinstance(wire, str)
            or not wire
            or len(wire) > _MAX_NAME
            or any(c.isspace() for c in wire)
        ):
            raise ValueError(
                f"{source}: wire name of {cls.__qualname__} must be a non-empty str of at "
                f"most {_MAX_NAME} characters without spaces, got {wire!r}"
            )
        with self._lock:
            taken = self._by_name.get(wire)
            if taken is not None and taken is not cls:
                raise WireNameClash(
                    f"wire name {wire!r} is claimed by {taken.__module__}.{taken.__qualname__} "
                    f"({self._sources[wire]}) and by {cls.__module__}.{cls.__qualname__} "
                    f"({source}); give one of them another name with register(cls, 'a.name')"
                )
            known = self._by_class.get(cls)
            if known is not None and known != wire:
                raise WireNameClash(
                    f"{cls.__qualname__} is registered as {known!r} ({self._sources[known]}) "
                    f"and as {wire!r} ({source}); a class travels under one name"
                )
            self._by_name[wire] = cls
            self._by_class[cls] = wire
            self._sources.setdefault(wire, source)
        return wire

    def register_all(self, source: str, hook: Callable[[RegisterMessage], object]) -> list[str]:
        """Call ``hook(register)``, recording what it registers for ``source``: all or nothing.

        Returns the names it added, in order; if ``hook`` raises, every name ``source``
        registered is forgotten again and the exception propagates.
        """
        before = set(self.names())
        names: dict[str, None] = {}  # (ordered, without repeats)

        def register(cls: type, name: str | None = None, /) -> None:
            names[self.register(cls, name, source=source)] = None

        try:
            hook(register)
        except BaseException:
            self.remove_source(source)
            raise
        return [n for n in names if n not in before]

    def name_of(self, cls: type) -> str | None:
        """The wire name of exactly ``cls`` (not of a base class), or ``None``."""
        return self._by_class.get(cls)

    def class_of(self, name: str) -> type | None:
        """The class registered as ``name``, or ``None``."""
        return self._by_name.get(name)

    def source_of(self, name: str) -> str | None:
        """Who registered ``name`` (e.g. ``plugin 'resources'``), or ``None``."""
        return self._sources.get(name)

    def names(self) -> Mapping[str, type]:
        """A copy of ``{wire name: class}``, in registration order."""
        with self._lock:
            return dict(self._by_name)

    def remove_source(self, source: str) -> None:
        """Forget every name ``source`` registered (when its plugin is unloaded)."""
        with self._lock:
            for wire in [w for w, s in self._sources.items() if s == source]:
                cls = self._by_name.pop(wire)
                self._by_class.pop(cls, None)
                del self._sources[wire]
