"""Saving and restoring what is registered on a bus, so tests can undo what they did.

Nothing here runs per message. A :class:`BusSnapshot` is a record that
:meth:`MessageBus.snapshot` fills and :meth:`MessageBus.restore` reads back: the bus
does both through the objects that own each part of its state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._middleware import MiddlewareStack

if TYPE_CHECKING:
    from ._handlers import Handler
    from ._subscribers import Subscription
    from .bus import MessageBus
    from .transport import Outbox

__all__ = ["BusSnapshot"]


class BusSnapshot:
    """The handlers, subscriptions, middleware, close callbacks, extensions, outbox and
    settings of a bus (by default: none, as after :meth:`MessageBus.reset`).

    Returned by :meth:`MessageBus.snapshot`. Call :meth:`restore` (or use the
    snapshot as a context manager) to put the bus back as it was.
    """

    __slots__ = (
        "bus",
        "close_callbacks",
        "extensions",
        "handlers",
        "middleware",
        "outbox",
        "settings",
        "subscriptions",
    )

    def __init__(
        self,
        bus: MessageBus,
        *,
        settings: tuple[bool, int],
        handlers: Mapping[type, Handler] | None = None,
        close_callbacks: list[Callable[[], Any]] | None = None,
        subscriptions: tuple[Subscription, ...] = (),
        middleware: MiddlewareStack | None = None,
        outbox: Outbox | None = None,
        extensions: Mapping[Any, Any] | None = None,
    ) -> None:
        self.bus = bus
        self.handlers: dict[type, Handler] = dict(handlers or {})
        self.close_callbacks: list[Callable[[], Any]] = list(close_callbacks or [])
        self.subscriptions = subscriptions
        self.middleware = middleware if middleware is not None else MiddlewareStack()
        #: (strict, max_cascade_depth)
        self.settings = settings
        self.outbox = outbox
        # Values are often containers mutated in place (and referenced by close
        # callbacks), so their contents are saved and put back into the same objects.
        self.extensions = {k: (v, _contents(v)) for k, v in (extensions or {}).items()}

    def restored_extensions(self) -> dict[Any, Any]:
        """The extensions, each container value refilled with its saved contents."""
        for value, saved in self.extensions.values():
            _put_back(value, saved)
        return {key: value for key, (value, _) in self.extensions.items()}

    def changed(self) -> bool:
        """Whether anything recorded here differs from the bus now."""
        now = self.bus.snapshot()
        return (
            now.handlers != self.handlers
            or now.close_callbacks != self.close_callbacks
            or now.subscriptions != self.subscriptions
            or now.middleware != self.middleware
            or now.settings != self.settings
            or now.outbox is not self.outbox
            or now.extensions.keys() != self.extensions.keys()
            or any(
                now.extensions[k][0] is not v or now.extensions[k][1] != saved
                for k, (v, saved) in self.extensions.items()
            )
        )

    def restore(self) -> None:
        """Put the bus back as it was when the snapshot was taken."""
        self.bus.restore(self)

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
