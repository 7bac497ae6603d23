"""Saving and restoring what is registered on a bus, so tests can undo what they did.

Nothing here runs per message: a snapshot copies the registries once, and
restoring puts the copies back and empties the lookup caches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._subscribers import Subscription
    from .bus import MessageBus, _Handler
    from .transport import Outbox

__all__ = ["BusSnapshot"]


class BusSnapshot:
    """The handlers, subscriptions, middleware, close callbacks, extensions, outbox and
    settings of a bus.

    Returned by :meth:`MessageBus.snapshot`. Call :meth:`restore` (or use the
    snapshot as a context manager) to put the bus back as it was.
    """

    __slots__ = (
        "_bus",
        "_close_callbacks",
        "_extensions",
        "_handlers",
        "_middleware",
        "_outbox",
        "_settings",
        "_subscriptions",
    )

    def __init__(self, bus: MessageBus) -> None:
        self._bus = bus
        with bus._lock:
            self._handlers: dict[type, _Handler] = dict(bus._handlers)
            self._close_callbacks: list[Callable[[], Any]] = list(bus._close_callbacks)
            # Values are often containers mutated in place (and referenced by close
            # callbacks), so their contents are saved and put back into the same objects.
            self._extensions = {k: (v, _contents(v)) for k, v in bus.extensions.items()}
            self._outbox: Outbox | None = bus._outbox
        self._subscriptions: tuple[Subscription, ...] = bus._registry.subscriptions
        self._middleware = bus._middleware.copy()
        self._settings = (bus.strict, bus.max_cascade_depth)

    def changed(self) -> bool:
        """Whether anything recorded here differs from the bus now."""
        bus = self._bus
        return (
            bus._handlers != self._handlers
            or bus._close_callbacks != self._close_callbacks
            or bus._registry.subscriptions != self._subscriptions
            or bus._middleware != self._middleware
            or (bus.strict, bus.max_cascade_depth) != self._settings
            or bus._outbox is not self._outbox
            or bus.extensions.keys() != self._extensions.keys()
            or any(
                bus.extensions[k] is not v or _contents(v) != saved
                for k, (v, saved) in self._extensions.items()
            )
        )

    def restore(self) -> None:
        """Put the bus back as it was when the snapshot was taken."""
        bus = self._bus
        with bus._lock:
            bus._handlers = dict(self._handlers)
            bus._close_callbacks = list(self._close_callbacks)
            bus._middleware = self._middleware.copy()
            bus._resolved = {}
            bus.strict, bus.max_cascade_depth = self._settings
            bus._outbox = self._outbox
            bus.extensions.clear()
            for key, (value, saved) in self._extensions.items():
                _put_back(value, saved)
                bus.extensions[key] = value
        registry = bus._registry
        with registry._lock:
            registry.subscriptions = self._subscriptions
            registry.wrap = bus._middleware.wrap_subscribers if bus._middleware.event else None
            registry.cache = {}

    def __enter__(self) -> BusSnapshot:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()


_CONTAINERS = (list, dict, set)


def _contents(value: object) -> object:
    """A shallow copy of a list, dict or set (else ``None``: only the object is kept)."""
    return value.copy() if isinstance(value, _CONTAINERS) else None


def _put_back(value: object, saved: object) -> None:
    if isinstance(value, list) and isinstance(saved, list):
        value[:] = saved
    elif isinstance(value, dict | set) and isinstance(saved, dict | set):
        value.clear()
        value.update(saved)  # saved is a copy of value, so of the same type
