"""Messages that travel: the wire names of the event and command classes a transport may carry.

Plugins name their transportable messages in the ``register_messages(register)`` hook;
``register(cls)`` uses :func:`default_wire_name`, ``register(cls, "a.wire.name")`` an
explicit name. ``cls`` may also be a reference ``"package.module:ClassName"``: the class
is then imported when a transport first looks it up, so that a plugin with many messages
(or the core, whose message classes are built on first use) costs nothing at start-up.
A transport (e.g. llmgine-redis) looks classes and names up here and nowhere else, so
that no payload can name an arbitrary class to build.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..messages.commands import Command
from ..messages.events import Event
from .errors import WireNameClash

__all__ = ["MessageCatalog", "RegisterMessage", "WireNameClash", "default_wire_name"]

_MAX_NAME = 200
#: ``package.module:Qual.Name``
_REFERENCE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def default_wire_name(cls: type | str) -> str:
    """``module.QualifiedName`` of ``cls`` (a class or a ``"module:QualifiedName"``
    reference): the wire name ``register(cls)`` gives it.

    E.g. ``acme_billing.messages.InvoicePaid``. A class that moves to another module
    changes its default name, so a class whose services are deployed one at a time
    should be registered with an explicit name.
    """
    if isinstance(cls, str):
        return cls.replace(":", ".", 1)
    return f"{cls.__module__}.{cls.__qualname__}"


def _key(cls: type) -> str:
    """The ``"module:QualifiedName"`` reference of a class."""
    return f"{cls.__module__}:{cls.__qualname__}"


class RegisterMessage(Protocol):
    """The ``register`` callback a plugin's ``register_messages`` hook receives."""

    def __call__(
        self, cls: type[Event] | type[Command[Any]] | str, name: str | None = None, /
    ) -> None:
        """Let ``cls`` (or the ``"module:Class"`` it names) cross a transport as ``name``
        (default: :func:`default_wire_name`)."""


class MessageCatalog:
    """Wire name <-> class, with who registered each (``source``, e.g. ``plugin 'x'``).

    Thread-safe. A name belongs to one class and a class has one name; registering
    the same pair again is a no-op. A class registered by reference is imported on
    the first lookup that needs it (:meth:`class_of`, :meth:`name_of`, :meth:`names`).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._by_name: dict[str, type | str] = {}  # a str: a reference not imported yet
        # class -> name, and "module:Class" -> name for what was registered by reference
        self._by_class: dict[type | str, str] = {}
        self._sources: dict[str, dict[str, None]] = {}  # name -> who registered it, in order

    def register(self, cls: type | str, name: str | None = None, *, source: str) -> str:
        """Record ``cls`` under ``name`` (or its default name) for ``source``; return the name.

        Raises :class:`TypeError` for a class that is not an Event or Command subclass
        (for a reference: when it is imported), :class:`ValueError` for a malformed name
        or reference, and :class:`WireNameClash` (naming both sources) when the name or
        the class is already taken otherwise.
        """
        if isinstance(cls, str):
            if not _REFERENCE.fullmatch(cls):
                raise ValueError(
                    f"{source}: register() needs a class or a 'package.module:ClassName' "
                    f"reference, got {cls!r}"
                )
            key = cls
        else:
            _check_class(cls, source)
            key = _key(cls)
        wire = default_wire_name(cls) if name is None else name
        if (
            not isinstance(wire, str)
            or not wire
            or len(wire) > _MAX_NAME
            or any(c.isspace() for c in wire)
        ):
            raise ValueError(
                f"{source}: wire name of {key} must be a non-empty str of at most "
                f"{_MAX_NAME} characters without spaces, got {wire!r}"
            )
        with self._lock:
            taken = self._by_name.get(wire)
            if taken is not None and not _same(taken, cls):
                theirs = taken if isinstance(taken, str) else _key(taken)
                raise WireNameClash(
                    f"wire name {wire!r} is claimed by {theirs} ({self.source_of(wire)}) "
                    f"and by {key} ({source}); give one of them another name with "
                    "register(cls, 'a.name')"
                )
            known = self._by_class.get(cls)
            if known is None:  # the same class registered the other way (by reference)?
                known = (
                    self._by_class.get(key)
                    if not isinstance(cls, str)
                    else next(
                        (
                            w
                            for c, w in self._by_class.items()
                            if isinstance(c, type) and _key(c) == key
                        ),
                        None,
                    )
                )
            if known is not None and known != wire:
                raise WireNameClash(
                    f"{key} is registered as {known!r} ({self.source_of(known)}) and as "
                    f"{wire!r} ({source}); a class travels under one name"
                )
            if taken is None or isinstance(taken, str):
                self._by_name[wire] = cls  # (a class replaces a reference to itself)
            self._by_class[cls] = wire
            self._sources.setdefault(wire, {})[source] = None
        return wire

    def register_all(self, source: str, hook: Callable[[RegisterMessage], object]) -> list[str]:
        """Call ``hook(register)``, recording what it registers for ``source``: all or nothing.

        Returns the names it added, in order; if ``hook`` raises, every name ``source``
        registered is forgotten again and the exception propagates.
        """
        before = set(self._by_name)
        names: dict[str, None] = {}  # (ordered, without repeats)

        def register(cls: type | str, name: str | None = None, /) -> None:
            names[self.register(cls, name, source=source)] = None

        try:
            hook(register)
        except BaseException:
            self.remove_source(source)
            raise
        return [n for n in names if n not in before]

    def name_of(self, cls: type) -> str | None:
        """The wire name of exactly ``cls`` (not of a base class), or ``None``."""
        name = self._by_class.get(cls)
        if name is not None:
            return name
        name = self._by_class.get(_key(cls))  # registered by reference, not looked up yet
        if name is None or self.class_of(name) is not cls:  # (another class of that name)
            return None
        return name

    def class_of(self, name: str) -> type | None:
        """The class registered as ``name`` (imported now if registered by reference)."""
        found = self._by_name.get(name)
        if not isinstance(found, str):
            return found
        source = self.source_of(name)
        if source is None:  # (forgotten meanwhile)
            return None
        cls = _load(found, source)  # (outside the lock: an import may take its time)
        with self._lock:
            if self._by_name.get(name) == found:
                self._by_name[name] = cls
                self._by_class[cls] = name
        return cls

    def source_of(self, name: str) -> str | None:
        """Who registered ``name`` first (e.g. ``plugin 'resources'``), or ``None``."""
        with self._lock:
            sources = self._sources.get(name)
            return next(iter(sources)) if sources else None

    def wire_names(self) -> list[str]:
        """Every wire name, in registration order, importing nothing (unlike :meth:`names`)."""
        with self._lock:
            return list(self._by_name)

    def reference_of(self, name: str) -> str | None:
        """The ``"module:QualifiedName"`` of the class registered as ``name``, importing
        nothing; ``None`` if ``name`` is not registered."""
        found = self._by_name.get(name)
        return found if found is None or isinstance(found, str) else _key(found)

    def names(self) -> Mapping[str, type]:
        """A copy of ``{wire name: class}``, in registration order (imports references)."""
        found = {wire: self.class_of(wire) for wire in self.wire_names()}
        return {wire: cls for wire, cls in found.items() if cls is not None}

    def remove_source(self, source: str) -> None:
        """Forget every name ``source`` registered (when its plugin is unloaded)."""
        with self._lock:
            for wire, sources in list(self._sources.items()):
                sources.pop(source, None)
                if not sources:  # (a name another source registered too stays)
                    del self._sources[wire]
                    self._by_name.pop(wire)
            self._by_class = {k: w for k, w in self._by_class.items() if w in self._by_name}


def _same(taken: type | str, cls: type | str) -> bool:
    """Whether ``cls`` is what a name was taken for (a reference matches its class)."""
    if isinstance(taken, str) or isinstance(cls, str):
        return (taken if isinstance(taken, str) else _key(taken)) == (
            cls if isinstance(cls, str) else _key(cls)
        )
    return taken is cls


def _check_class(cls: object, source: str) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Event | Command)):
        raise TypeError(f"{source}: register() needs an Event or Command subclass, got {cls!r}")


def _load(reference: str, source: str) -> type:
    """Import the class ``"module:Qual.Name"`` names; errors name the reference and source."""
    module, _, attr = reference.partition(":")
    try:
        found: Any = importlib.import_module(module)
        for part in attr.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise LookupError(
            f"{source} registered message {reference!r}, which cannot be imported: {exc}"
        ) from exc
    _check_class(found, source)
    if _key(found) != reference:  # (read through an alias: it names another class)
        raise LookupError(f"{source} registered {reference!r}, which is {_key(found)!r}")
    return found  # type: ignore[no-any-return]
