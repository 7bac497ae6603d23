"""The message bus: one handler per command type, any number of subscribers per event.

``message_bus`` is the process-wide bus (``MessageBus()`` returns the same
object). ``MessageBus.isolated()`` gives a fresh, independent bus for tests and
for applications that embed more than one.

How a dispatch goes: find the handler for the command's class (its nearest
registered base; cached) -> open a scope (:mod:`~llmgine.messages._scope`) in a
context variable -> run the handler -> on success publish the events it queued
with ``add_pending_event``, in order, breadth-first (events queued by
subscribers go to the back of the queue); on failure drop them and re-raise.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from types import CoroutineType
from typing import Any, ClassVar, TypeVar

from . import _middleware
from ._delivery import DIRECT
from ._lifecycle import Closing
from ._middleware import Middleware, MiddlewareStack
from ._naming import callable_name, is_async_callable, type_name
from ._relay import Relay
from ._scope import (
    CLOSED,
    DEPTH,
    MESSAGE_ID,
    PENDING,
    get_scope,
    open_scope,
    reset_scope,
    set_scope,
    stamp,
)
from ._snapshot import BusSnapshot
from ._subscribers import Plan, SubscriberRegistry, Subscription
from ._typing import CommandClass
from .commands import Command
from .errors import (
    AsyncHandlerError,
    CommandHandlerNotFound,
    DuplicateHandlerError,
    MessageBusException,
    NoActiveScopeError,
)
from .events import Event

__all__ = [
    "CommandHandlerNotFound",
    "DEFAULT_MAX_CASCADE_DEPTH",
    "MessageBus",
    "MessageBusException",
    "Subscription",
    "message_bus",
]

R = TypeVar("R")
C = TypeVar("C", bound=Command[Any])
E = TypeVar("E", bound=Event)

#: How many generations of events-causing-events a bus allows before it raises
#: :class:`~llmgine.messages.errors.EventCascadeError`.
DEFAULT_MAX_CASCADE_DEPTH = 100


class _Handler:
    __slots__ = ("ahandler", "handler", "is_async", "name", "source")

    def __init__(self, handler: Callable[[Any], Any], source: str | None) -> None:
        self.handler = handler
        #: what dispatch_async calls: ``handler`` unless async middleware wraps it
        self.ahandler = handler
        self.is_async = is_async_callable(handler)
        self.name = callable_name(handler)
        self.source = source

    def describe(self) -> str:
        return f"{self.name} (from {self.source})" if self.source else self.name


class MessageBus(Relay, Closing):
    """Routes commands to their one handler and events to their subscribers.

    ``MessageBus()`` returns the process-wide bus; use :meth:`isolated` for a new one.
    ``strict=True`` makes subscriber errors raise :class:`SubscriberError` (for tests)
    instead of being logged and reported as a ``system.bus.error`` event.
    """

    _default: ClassVar[MessageBus | None] = None
    _default_lock: ClassVar[threading.Lock] = threading.Lock()

    strict: bool
    max_cascade_depth: int
    _lock: threading.Lock
    _handlers: dict[type, _Handler]
    _resolved: dict[type, _Handler]
    _registry: SubscriberRegistry
    _middleware: MiddlewareStack
    #: Per-bus state that plugins and the plugin loader keep, under a key of their
    #: own (a :class:`llmgine.plugins.BusState`); :meth:`reset` clears it.
    extensions: dict[Any, Any]

    def __new__(cls) -> MessageBus:
        with cls._default_lock:
            if MessageBus._default is None:
                MessageBus._default = cls.isolated()
            return MessageBus._default

    @classmethod
    def isolated(
        cls, *, strict: bool = False, max_cascade_depth: int = DEFAULT_MAX_CASCADE_DEPTH
    ) -> MessageBus:
        """Return a new bus that shares no handlers or subscribers with any other."""
        if max_cascade_depth < 1:
            raise ValueError(f"max_cascade_depth must be at least 1, got {max_cascade_depth}")
        self = object.__new__(cls)
        self.strict = strict
        self.max_cascade_depth = max_cascade_depth
        self._lock = threading.Lock()
        self._handlers = {}
        self._resolved = {}
        self._registry = SubscriberRegistry()
        self._close_callbacks = []
        self._middleware = MiddlewareStack()
        self.extensions = {}
        self._outbox = None
        return self

    def __repr__(self) -> str:
        kind = "process-wide" if self is MessageBus._default else "isolated"
        return (
            f"<MessageBus {kind}: {len(self._handlers)} command handlers, "
            f"{len(self._registry.subscriptions)} subscriptions>"
        )

    # Registration -------------------------------------------------------------

    def register_command(
        self,
        command_type: CommandClass[C, R],
        handler: Callable[[C], R],
        *,
        source: str | None = None,
    ) -> None:
        """Make ``handler`` the one handler of ``command_type`` (and subclasses without their own).

        Type checkers reject a handler that does not accept ``command_type``'s instances
        or does not return its ``Command[R]`` result type. ``source`` (e.g. a plugin
        name) appears in error messages. Raises
        :class:`DuplicateHandlerError` if the type already has a handler.
        """
        if not (isinstance(command_type, type) and issubclass(command_type, Command)):
            raise TypeError(f"register_command() needs a Command subclass, got {command_type!r}")
        if not callable(handler):
            raise TypeError(
                f"handler for {type_name(command_type)} must be callable, got {handler!r}"
            )
        new = _Handler(handler, source)
        with self._lock:
            old = self._handlers.get(command_type)
            if old is not None:
                raise DuplicateHandlerError(
                    f"command {type_name(command_type)} already has a handler, {old.describe()}; "
                    f"cannot also register {new.describe()}. Each command type has exactly one "
                    "handler: unregister_command() the first, or disable one of the plugins"
                )
            self._handlers[command_type] = new
            self._resolved = {}

    def unregister_command(self, command_type: type[Command[Any]]) -> None:
        """Remove the handler of ``command_type``; raises ``CommandHandlerNotFound`` if none."""
        with self._lock:
            if self._handlers.pop(command_type, None) is None:
                raise CommandHandlerNotFound(command_type)
            self._resolved = {}

    def command_handlers(self) -> dict[type[Command[Any]], tuple[str, str | None]]:
        """Return ``{command type: (handler name, source)}`` for every registered handler."""
        return {t: (h.name, h.source) for t, h in self._handlers.items()}

    def subscribe_event(
        self, event_type: str | type[E], handler: Callable[[E], Any]
    ) -> Subscription:
        """Call ``handler`` for every event that ``event_type`` matches; returns the handle.

        ``event_type`` is an exact type name (``"resource.created"``), a pattern over
        dot-separated segments (``"*"`` for all events, ``"resource.*"``, ``"system.**"``),
        or an event class (matching its subclasses too). Subscribers run in the order
        they subscribed, and each receives an event once even if several of its
        subscriptions match.
        """
        return self._registry.add(event_type, handler)

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """Every active subscription, in subscription order."""
        return self._registry.subscriptions

    def subscribers_for(self, event: Event) -> Plan:
        """Return the subscribers ``event`` would be delivered to, in delivery order."""
        return self._registry.plan(event.__class__, event.event_type)

    def reset(self) -> None:
        """Forget every handler, subscription, middleware, close callback, extension and the
        outbox: a hard reset, for tests.

        It runs nothing: close callbacks are dropped unrun, and plugins started on the
        bus are forgotten without their ``shutdown`` hooks (``register_handlers()``
        registers and starts them again). Call :meth:`close` first to shut them down.
        """
        with self._lock:
            self._handlers.clear()
            self._resolved = {}
            self._close_callbacks.clear()
            self._middleware = MiddlewareStack()
            self.extensions.clear()
            self._outbox = None
        self._registry.wrap = None
        self._registry.clear()

    def snapshot(self) -> BusSnapshot:
        """Capture handlers, subscriptions, middleware, close callbacks and settings.

        ``snapshot.restore()`` (or ``with bus.snapshot(): ...``) puts them back, which
        is how ``llmgine.testing`` keeps tests from leaking into ``message_bus``.
        """
        return BusSnapshot(self)

    # Middleware ---------------------------------------------------------------------

    def add_command_middleware(
        self, middleware: Middleware, *, slot: int | None = None
    ) -> Callable[[], None]:
        """Wrap every command handler in ``middleware(command, call_next)``; returns a remover.

        Middleware added first runs outermost. ``slot`` (from
        :meth:`reserve_middleware_slot`) puts it innermost in that reserved place
        instead. See :mod:`llmgine.middleware` for the sync/async rules and the
        shipped middleware.
        """
        return _middleware.install(self, "command", middleware, slot)

    def add_event_middleware(
        self, middleware: Middleware, *, slot: int | None = None
    ) -> Callable[[], None]:
        """Wrap every subscriber call in ``middleware(event, call_next)``; returns a remover.

        ``slot`` works as for :meth:`add_command_middleware`.
        """
        return _middleware.install(self, "event", middleware, slot)

    def reserve_middleware_slot(self) -> int:
        """Reserve a place in the middleware chains for a later ``add_*_middleware(slot=)``.

        Middleware added into the slot, whenever that happens, runs inside every
        middleware added before the reservation and outside every one added after it
        (the plugin host gives each plugin one, so that a plugin registered again
        after a failed startup gets its place in load order back).
        """
        return _middleware.reserve_slot(self)

    # Commands -------------------------------------------------------------------

    def _handler_for(self, command: object) -> _Handler:
        cls = command.__class__
        if not isinstance(command, Command):
            raise TypeError(f"dispatch() needs a Command instance, got {command!r}")
        # Take the cache before reading the handlers: a registration racing with us
        # replaces the cache after changing the handlers, so a stale answer can only
        # land in a cache that is already discarded.
        resolved = self._resolved
        for klass in cls.__mro__:
            found = self._handlers.get(klass)
            if found is not None:
                found = self._middleware.wrap_handler(found, cls)
                resolved[cls] = found
                return found
        raise CommandHandlerNotFound(cls)

    def dispatch(self, command: Command[R]) -> R:
        """Run the command's handler, publish the events it queued, and return its result.

        The handler's exception reaches the caller unchanged and its queued events are
        dropped. An ``async def`` handler raises :class:`AsyncHandlerError`: use
        :meth:`dispatch_async`. So does an ``async def`` subscriber of a queued event,
        but as that subscriber's failure (see ``strict``): the handler has succeeded,
        so the event's other subscribers and the later events are still published.
        """
        entry = self._resolved.get(command.__class__) or self._handler_for(command)
        if entry.is_async:
            raise AsyncHandlerError(
                f"handler {entry.name} of {type_name(command.__class__)} is async; "
                "use 'await message_bus.dispatch_async(command)'"
            )
        # (read into a local first: CPython 3.11 has no fast path for calling a slot's
        # value as if it were a method)
        handler = entry.handler
        scope = open_scope(command)
        token = set_scope(scope)
        try:
            result = handler(command)
        finally:
            reset_scope(token)
            scope[CLOSED] = True
        if result.__class__ is CoroutineType:
            result.close()
            raise AsyncHandlerError(
                f"handler {entry.name} of {type_name(command.__class__)} returned a coroutine; "
                "use 'await message_bus.dispatch_async(command)'"
            )
        if scope[PENDING] is not None:
            self._publish(scope[PENDING], scope[DEPTH] + 1)
        return result  # type: ignore[no-any-return]

    async def dispatch_async(self, command: Command[R]) -> R:
        """Like :meth:`dispatch`, awaiting ``async def`` handlers and subscribers.

        Plain handlers are called directly. If the dispatch is cancelled, nothing it
        queued is published.
        """
        entry = self._resolved.get(command.__class__) or self._handler_for(command)
        handler = entry.ahandler  # (a local, as in dispatch)
        scope = open_scope(command)
        token = set_scope(scope)
        try:
            result = handler(command)
            if entry.is_async or result.__class__ is CoroutineType:
                result = await result
        finally:
            reset_scope(token)
            scope[CLOSED] = True
        if scope[PENDING] is not None:
            await self._publish_async(scope[PENDING], scope[DEPTH] + 1)
        return result  # type: ignore[no-any-return]

    # Events -----------------------------------------------------------------------

    def add_pending_event(self, event: Event) -> None:
        """Queue ``event`` to be published when the current handler or subscriber succeeds.

        Works on any bus object: the event joins the dispatch (or delivery) in progress
        in the current context. Raises :class:`NoActiveScopeError` outside one, including
        from a task or thread that outlived the handler or subscriber that started it.
        """
        scope = get_scope()
        if scope is None or scope[CLOSED]:
            where = (
                "outside a command handler or event subscriber"
                if scope is None
                else f"after the handler or subscriber of {scope[MESSAGE_ID]} returned "
                "(from a task or thread it started that outlived it)"
            )
            raise NoActiveScopeError(
                f"add_pending_event() was called {where}, so there is nothing to publish it "
                "after; use message_bus.emit(event) (or await emit_async(event)) to publish "
                "it now"
            )
        stamp(event, scope, "add_pending_event")
        if scope[PENDING] is None:
            scope[PENDING] = [event]
        else:
            scope[PENDING].append(event)

    def emit(self, event: Event) -> None:
        """Publish ``event`` now to every matching subscriber, then the events they queue.

        A failing subscriber does not stop the others (see ``strict``). An ``async def``
        subscriber raises :class:`AsyncHandlerError` before any subscriber runs (and before
        an attached outbox sends the event): use :meth:`emit_async`.
        """
        scope = get_scope()
        if scope is None and isinstance(event, Event) and event.correlation_id is not None:
            depth = 1  # nothing to stamp (a re-emit), and no call to find that out
        else:
            depth = stamp(event, scope, "emit")
        if self._outbox is not None:
            self._refuse_async(event)
            self._drain_out(deque(((event, depth, DIRECT),)))
            return
        # _publish((event,), depth) without an outbox, unrolled for one event
        caused: list[tuple[Event, int, int]] = []
        self._deliver(event, depth, DIRECT, caused)
        if caused:
            self._drain(caused)

    async def emit_async(self, event: Event) -> None:
        """Like :meth:`emit`; ``async def`` subscribers of one event run concurrently."""
        scope = get_scope()
        if scope is None and isinstance(event, Event) and event.correlation_id is not None:
            depth = 1
        else:
            depth = stamp(event, scope, "emit_async")
        if self._outbox is not None:
            await self._drain_out_async(deque(((event, depth, DIRECT),)))
            return
        caused: list[tuple[Event, int, int]] = []
        await self._deliver_async(event, depth, DIRECT, caused)
        if caused:
            await self._drain_async(caused)


#: The process-wide bus; ``MessageBus()`` returns this same object.
message_bus = MessageBus()
