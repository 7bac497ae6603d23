"""Per-bus plugin state: a typed slot on every bus, and true/false environment values.

A plugin keeps what it was configured with (a store, a log file, a transport) on the
bus it was installed on, never in module globals, so that two buses in one process
can hold different settings::

    _STATE: BusState[MyState] = BusState("my_plugin")

    def install(bus: MessageBus, **settings: object) -> None:
        _STATE.set(bus, MyState(**settings))

    def state_of(bus: MessageBus) -> MyState | None:
        return _STATE.get(bus)

The value lives in ``bus.extensions`` under the ``BusState`` object itself, so
``bus.reset()`` forgets it and ``bus.snapshot()`` restores it like the rest of the bus.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from ..messages.bus import MessageBus

__all__ = ["BusState", "env_flag"]

T = TypeVar("T")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class BusState(Generic[T]):
    """One plugin's state on each bus: ``get``/``set``/``pop`` a ``T`` per bus.

    Like a :class:`contextvars.ContextVar` whose context is the bus. ``name`` (e.g. the
    plugin's distribution) shows in ``repr`` and in errors.
    """

    __slots__ = ("_lock", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<BusState {self.name!r}>"

    def get(self, bus: MessageBus) -> T | None:
        """This state on ``bus``, or ``None`` if none was set there."""
        value: T | None = bus.extensions.get(self)
        return value

    def set(self, bus: MessageBus, value: T) -> None:
        """Make ``value`` this state on ``bus`` (replacing any earlier one)."""
        bus.extensions[self] = value

    def setdefault(self, bus: MessageBus, factory: Callable[[], T]) -> T:
        """This state on ``bus``, created with ``factory()`` first if there is none.

        Safe across threads: two first calls on one bus get the same object.
        """
        value: T | None = bus.extensions.get(self)
        if value is not None:
            return value
        with self._lock:
            value = bus.extensions.get(self)
            if value is None:
                value = factory()
                bus.extensions[self] = value
            return value

    def pop(self, bus: MessageBus) -> T | None:
        """Remove this state from ``bus`` and return it (``None`` if there was none)."""
        value: T | None = bus.extensions.pop(self, None)
        return value


def env_flag(name: str, default: bool = False) -> bool:
    """Read environment variable ``name`` as true/false.

    ``1``/``true``/``yes``/``on`` are true and ``0``/``false``/``no``/``off``/empty are
    false, in any case and with surrounding spaces; unset gives ``default``. Any other
    value gives ``default`` with a :class:`RuntimeWarning` naming the variable, so a
    typo is not taken silently.
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    warnings.warn(
        f"environment variable {name}={raw!r} is not a true/false value (use 1/true/yes/on "
        f"or 0/false/no/off); taken as {'true' if default else 'false'}",
        RuntimeWarning,
        stacklevel=2,
    )
    return default
