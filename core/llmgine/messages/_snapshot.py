"""Saving and restoring what is registered on a bus, so tests can undo what they did.

Nothing here runs per message. A :class:`BusSnapshot` is a record that
:meth:`MessageBus.snapshot` fills and :meth:`MessageBus.restore` reads back: the bus
does both through the objects that own each part of its state. :class:`Snapshots`
gives the bus those methods (and ``reset``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._middleware import MiddlewareStack

if TYPE_CHECKING:
    import threading

    from ._background import BackgroundQueues
    from ._closing import CloseCallbacks
    from ._delivery import Delivery
    from ._handlers import Handler, HandlerTable
    from ._middleware import Chains
    from ._registry import State, SubscriberRegistry
    from ._session_table import SessionTable, SessionTableState
    from .bus import MessageBus
    from .transport import Outbox

__all__ = ["BusSnapshot", "Snapshots"]


class Snapshots:
    """The bus's ``reset``, ``snapshot`` and ``restore`` (a part of :class:`MessageBus`)."""

    # The bus's parts (see MessageBus._setup), each restored by its owner.
    _lock: threading.Lock
    _handlers: HandlerTable
    _registry: SubscriberRegistry
    _middleware: Chains
    _delivery: Delivery
    _background: BackgroundQueues
    _closing: CloseCallbacks
    _sessions: SessionTable
    extensions: dict[Any, Any]
    strict: bool
    max_cascade_depth: int

    def reset(self) -> None:
        """Forget every handler, subscription, session, middleware, event observer, close
        callback, extension and the outbox: a hard reset, for tests.

        It runs nothing: close callbacks are dropped unrun, and plugins started on the
        bus are forgotten without their ``shutdown`` hooks (``register_handlers()``
        registers and starts them again). Call
        :meth:`~llmgine.messages.bus.MessageBus.close` first to shut them down.
        """
        self.restore(BusSnapshot(self, settings=(self.strict, self.max_cascade_depth)))  # type: ignore[arg-type]

    def snapshot(self) -> BusSnapshot:
        """Capture handlers, subscriptions, sessions, middleware, event observers, close
        callbacks, extensions, the outbox and settings; ``snapshot.restore()`` (or ``with
        bus.snapshot(): ...``) puts them back, which is how ``llmgine.testing`` keeps
        tests from leaking."""
        return BusSnapshot(
            self,  # type: ignore[arg-type]
            handlers=self._handlers.handlers,
            close_callbacks=self._closing.pending(),
            subscriptions=self._registry.state(),
            sessions=self._sessions.state(),
            middleware=self._middleware.stack,
            settings=(self.strict, self.max_cascade_depth),
            outbox=self._delivery.outbox,
            observers=self._delivery.observers.state(),
            extensions=self.extensions,
        )

    def restore(self, snapshot: BusSnapshot) -> None:
        """Put this bus back as ``snapshot`` (one of its own) recorded it."""
        if snapshot.bus is not self:
            raise ValueError(f"restore() needs a snapshot of this bus, not of {snapshot.bus!r}")
        self._handlers.replace(snapshot.handlers)
        self._closing.replace(snapshot.close_callbacks)
        self._registry.replace(snapshot.subscriptions)
        self._background.forget()  # (failures kept for the subscribers it removed)
        self._sessions.replace(snapshot.sessions)
        self._middleware.use(snapshot.middleware)
        self._delivery.observers.replace(snapshot.observers)
        with self._lock:
            self.strict, self.max_cascade_depth = snapshot.settings
            self._delivery.outbox = snapshot.outbox
            self.extensions.clear()
            self.extensions.update(snapshot.restored_extensions())


class BusSnapshot:
    """The handlers, subscriptions, sessions, middleware, event observers, close callbacks,
    extensions, outbox and settings of a bus (by default: none, as after :meth:`MessageBus.reset`).

    Returned by :meth:`MessageBus.snapshot`. Call :meth:`restore` (or use the
    snapshot as a context manager) to put the bus back as it was.
    """

    __slots__ = (
        "bus",
        "close_callbacks",
        "extensions",
        "handlers",
        "middleware",
        "observers",
        "outbox",
        "sessions",
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
        subscriptions: State = ((), {}),
        sessions: SessionTableState | None = None,
        middleware: MiddlewareStack | None = None,
        outbox: Outbox | None = None,
        observers: tuple[Callable[[Any], Any], ...] = (),
        extensions: Mapping[Any, Any] | None = None,
    ) -> None:
        self.bus = bus
        self.handlers: dict[type, Handler] = dict(handlers or {})
        self.close_callbacks: list[Callable[[], Any]] = list(close_callbacks or [])
        self.subscriptions = subscriptions
        #: the open sessions and their own command handlers (``None``: none)
        self.sessions = sessions
        self.middleware = middleware if middleware is not None else MiddlewareStack()
        #: (strict, max_cascade_depth)
        self.settings = settings
        self.outbox = outbox
        #: the event observers (``add_event_observer``)
        self.observers = observers
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
            or now.sessions != self.sessions
            or now.middleware != self.middleware
            or now.settings != self.settings
            or now.outbox is not self.outbox
            or now.observers != self.observers
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
