"""The message bus: one handler per command type, any number of subscribers per event.

``message_bus`` is the process-wide bus (``MessageBus()`` returns the same object);
``MessageBus.isolated()`` gives a fresh, independent one. The bus delegates to objects
it owns: the handler table, the subscriber registry, the middleware chains, the
delivery (publishing events) and the close callbacks. docs/architecture.md shows how
a command and an event travel through them.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from types import CoroutineType
from typing import Any, ClassVar, TypeVar

from ._async_delivery import deliver_async
from ._background import BackgroundQueues, Overflow, check_foreground
from ._closing import CloseCallbacks
from ._delivery import DIRECT, QUEUED, Delivery, Entry, Setting
from ._handlers import HandlerTable
from ._middleware import Chains, Middleware, MiddlewareStack
from ._naming import type_name
from ._registry import SubscriberRegistry
from ._scope import get_scope, open_scope, queue_pending, reset_scope, session_of, set_scope, stamp
from ._session_table import SessionTable
from ._sessions import Session
from ._snapshot import Snapshots
from ._subscribers import Plan, Subscription
from ._typing import CommandClass, Handler
from ._waiting import Waiter, Waiting
from .commands import Command
from .errors import AsyncHandlerError, CommandHandlerNotFound, MessageBusException
from .events import Event
from .transport import Transported

__all__ = [
    "CommandHandlerNotFound",
    "DEFAULT_MAX_CASCADE_DEPTH",
    "MessageBus",
    "MessageBusException",
    "Session",
    "Subscription",
    "Waiter",
    "message_bus",
]

R = TypeVar("R")
C = TypeVar("C", bound=Command[Any])
E = TypeVar("E", bound=Event)

#: How many generations of events-causing-events a bus allows before it raises
#: :class:`~llmgine.messages.errors.EventCascadeError`.
DEFAULT_MAX_CASCADE_DEPTH = 100


class MessageBus(Snapshots, Transported, Waiting):
    """Routes commands to their one handler and events to their subscribers.

    ``MessageBus()`` returns the process-wide bus; use :meth:`isolated` for a new one.
    ``strict=True`` makes subscriber errors raise :class:`SubscriberError` (for tests)
    instead of being logged and reported as a ``system.bus.error`` event.

    A subscriber's failure is any exception but ``KeyboardInterrupt``, ``SystemExit``
    and ``asyncio.CancelledError`` (a non-``Exception`` one is reported as a
    :class:`~llmgine.messages.errors.SubscriberBaseExceptionError`): the other
    subscribers still run. Those three propagate, once the delivery's scope is closed
    and its subscriber tasks are cancelled.
    """

    _default: ClassVar[MessageBus | None] = None
    _default_lock: ClassVar[threading.Lock] = threading.Lock()

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
        self._setup(strict, max_cascade_depth)
        return self

    def _setup(self, strict: bool, max_cascade_depth: int) -> None:
        # The objects the bus delegates to; each owns its part of the state and caches.
        self._lock = threading.Lock()
        self._handlers = HandlerTable(self._lock)
        self._registry = SubscriberRegistry()
        self._middleware = Chains(self._lock, self._handlers, self._registry)
        self._delivery = Delivery(self._registry, self._lock, strict, max_cascade_depth)
        self._closing = CloseCallbacks(self._lock)
        self._background = BackgroundQueues(self._delivery, self._registry)
        self._sessions = SessionTable(self._lock, self._handlers, self._registry, self._background)
        self.extensions = {}

    def __repr__(self) -> str:
        kind = "process-wide" if self is MessageBus._default else "isolated"
        return (
            f"<MessageBus {kind}: {len(self._handlers.handlers)} command handlers, "
            f"{len(self._registry.subscriptions)} subscriptions>"
        )

    #: Whether subscriber failures raise :class:`SubscriberError` instead of being reported.
    strict = Setting[bool]("strict")
    #: How many generations of events-causing-events this bus allows.
    max_cascade_depth = Setting[int]("max_cascade_depth")

    # Registration -------------------------------------------------------------

    def register_command(
        self,
        command_type: CommandClass[C, R],
        handler: Handler[C, R],
        *,
        source: str | None = None,
    ) -> None:
        """Make ``handler`` the one handler of ``command_type`` (and subclasses without their own).

        Type checkers reject a handler that does not accept ``command_type``'s instances
        or does not return its ``Command[R]`` result type. ``source`` (e.g. a plugin
        name) appears in error messages. Raises
        :class:`DuplicateHandlerError` if the type already has a handler.
        """
        self._handlers.add(command_type, handler, source)

    def unregister_command(self, command_type: type[Command[Any]]) -> None:
        """Remove the handler of ``command_type``; raises ``CommandHandlerNotFound`` if none."""
        self._handlers.remove(command_type)

    def command_handlers(self) -> dict[type[Command[Any]], tuple[str, str | None]]:
        """Return ``{command type: (handler name, source)}`` for every registered handler."""
        return {t: (h.name, h.source) for t, h in self._handlers.handlers.items()}

    def subscribe_event(
        self,
        event_type: str | type[E],
        handler: Callable[[E], Any],
        *,
        priority: int = 0,
        background: bool = False,
        max_pending: int = 1000,
        overflow: Overflow = "wait",
        at_most_once: bool = False,
    ) -> Subscription:
        """Call ``handler`` for every event that ``event_type`` matches; returns the handle.

        ``event_type`` is an exact type name (``"resource.created"``), a pattern over
        dot-separated segments (``"*"`` for all events, ``"resource.*"``, ``"system.**"``),
        or an event class (matching its subclasses too). Subscribers with a higher
        ``priority`` run first; equal priorities run in the order they subscribed, and
        each receives an event once (at its highest priority) even if several of its
        subscriptions match.

        ``background=True``: the publisher does not wait for ``handler``, which runs off
        a queue of its own (at most ``max_pending`` events; ``overflow`` says what a
        full queue does: ``"wait"``, ``"drop_oldest"`` or ``"drop_newest"``), in a
        thread for a plain function, in a task for an ``async def`` one. An event from
        a transport is acknowledged only once it was handled, unless ``at_most_once``.
        See docs/guide/background.md.
        """
        if background:
            make = self._background.make(max_pending, overflow, at_most_once)
        else:
            check_foreground(max_pending, overflow, at_most_once)
            make = None
        return self._registry.add(event_type, handler, priority=priority, background=make)

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """Every active subscription, the open sessions' too, in subscription order."""
        return tuple(self._registry.all())

    def subscribers_for(self, event: Event) -> Plan:
        """The :class:`Plan` of ``event`` published here: ``.subscribers`` in delivery order (its
        session's own too: ``event.session_id``, else the current session, which publishing
        would stamp on it)."""
        return self._registry.plan(event.__class__, event.event_type, session_of(event))

    # Sessions and background delivery -------------------------------------------------

    def session(self, session_id: str | None = None) -> Session:
        """A session (one conversation, say): use it as ``with``/``async with``, or call
        its ``dispatch``/``emit``; every message published in it carries its id.

        ``session_id`` defaults to a new unique id. See docs/guide/sessions.md.
        """
        return self._sessions.open(self, session_id)

    @property
    def sessions(self) -> Mapping[str, Session]:
        """The open sessions of this bus, by id."""
        return self._sessions.view()

    def drain(self) -> None:
        """Wait until every background subscriber has handled every event on its queue.

        Raises :class:`AsyncHandlerError` when called on the event loop that runs an
        ``async def`` background subscriber: use :meth:`drain_async` there.
        """
        self._background.drain()

    async def drain_async(self) -> None:
        """Like :meth:`drain`, awaiting the background subscribers of the running loop."""
        await self._background.drain_async()

    def add_event_observer(self, observer: Callable[[Event], Any]) -> Callable[[], None]:
        """Call ``observer(event)`` for every event published on this bus (by any path,
        with or without subscribers; not one it refuses), before its subscribers run;
        returns a remover. For metrics: it must be quick and must not raise (that reaches
        the publisher); with none, publishing pays one attribute check. An observer with a
        ``subscription_removed(subscription)`` method is also told of every subscription
        removed, whoever removes it (``unsubscribe()``, a session's end, ``reset()``)."""
        return self._delivery.observers.add(observer)

    # Middleware ---------------------------------------------------------------------

    @property
    def middleware(self) -> MiddlewareStack:
        """The command and event middleware (``.command``, ``.event``), outermost first."""
        return self._middleware.stack

    def add_command_middleware(
        self, middleware: Middleware, *, slot: int | None = None
    ) -> Callable[[], None]:
        """Wrap every command handler in ``middleware(command, call_next)``; returns a remover.

        Middleware added first runs outermost. ``slot`` (from
        :meth:`reserve_middleware_slot`) puts it innermost in that reserved place
        instead. See :mod:`llmgine.middleware` for the sync/async rules and the
        shipped middleware.
        """
        return self._middleware.add("command", middleware, slot)

    def add_event_middleware(
        self, middleware: Middleware, *, slot: int | None = None
    ) -> Callable[[], None]:
        """Wrap every subscriber call in ``middleware(event, call_next)``; returns a remover.

        ``slot`` works as for :meth:`add_command_middleware`.
        """
        return self._middleware.add("event", middleware, slot)

    def reserve_middleware_slot(self) -> int:
        """Reserve a place in the middleware chains for a later ``add_*_middleware(slot=)``.

        Middleware added into the slot, whenever that happens, runs inside every one
        added before the reservation and outside every one added after it (the plugin
        host gives each plugin one: registered again, it gets its place back).
        """
        return self._middleware.reserve()

    # Commands -------------------------------------------------------------------

    def dispatch(self, command: Command[R]) -> R:
        """Run the command's handler, publish the events it queued, and return its result.

        The handler's exception reaches the caller unchanged and its queued events are
        dropped. An ``async def`` handler raises :class:`AsyncHandlerError`: use
        :meth:`dispatch_async`. So does an ``async def`` subscriber of a queued event,
        but as that subscriber's failure (see ``strict``): the handler has succeeded,
        so the event's other subscribers and the later events are still published.
        """
        table = self._handlers
        entry = table.resolved.get(command.__class__) or table.resolve(command, self.middleware)
        if entry.is_async:
            raise AsyncHandlerError(
                f"handler {entry.name} of {type_name(command.__class__)} is async; "
                "use 'await message_bus.dispatch_async(command)'"
            )
        scope = open_scope(command)
        token = set_scope(scope)
        try:
            result = entry.handler(command)
        finally:
            reset_scope(token)
            scope.closed = True
        if result.__class__ is CoroutineType:
            result.close()
            raise AsyncHandlerError(
                f"handler {entry.name} of {type_name(command.__class__)} returned a coroutine; "
                "use 'await message_bus.dispatch_async(command)'"
            )
        if scope.pending is not None:  # no publishing step when nothing was queued
            self._delivery.publish(scope.pending, scope.depth + 1, QUEUED)
        return result  # type: ignore[no-any-return]

    async def dispatch_async(self, command: Command[R]) -> R:
        """Like :meth:`dispatch`, awaiting ``async def`` handlers and subscribers.

        Plain handlers are called directly. If the dispatch is cancelled, nothing it
        queued is published.
        """
        table = self._handlers
        entry = table.resolved.get(command.__class__) or table.resolve(command, self.middleware)
        scope = open_scope(command)
        token = set_scope(scope)
        try:
            result = entry.ahandler(command)
            if entry.is_async or result.__class__ is CoroutineType:
                result = await result
        finally:
            reset_scope(token)
            scope.closed = True
        if scope.pending is not None:
            await self._delivery.publish_async(scope.pending, scope.depth + 1, QUEUED)
        return result  # type: ignore[no-any-return]

    # Events -----------------------------------------------------------------------

    def add_pending_event(self, event: Event) -> None:
        """Queue ``event`` to be published when the current handler or subscriber succeeds.

        Works on any bus object: the event joins the dispatch (or delivery) in progress
        in the current context. Raises :class:`NoActiveScopeError` outside one, including
        from a task or thread that outlived the handler or subscriber that started it.
        """
        queue_pending(event)

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
        delivery = self._delivery
        if delivery.outbox is not None:
            delivery.refuse_async(event)
            delivery.drain_out(deque(((event, depth, DIRECT),)))
            return
        caused: list[Entry] = []  # (the no-outbox publish of one event, unrolled)
        delivery.deliver(event, depth, DIRECT, caused)
        if caused:
            delivery.drain(caused)

    async def emit_async(self, event: Event) -> None:
        """Like :meth:`emit`; ``async def`` subscribers of one event run concurrently."""
        scope = get_scope()
        if scope is None and isinstance(event, Event) and event.correlation_id is not None:
            depth = 1
        else:
            depth = stamp(event, scope, "emit_async")
        delivery = self._delivery
        if delivery.outbox is not None:
            await delivery.drain_out_async(deque(((event, depth, DIRECT),)))
            return
        caused: list[Entry] = []  # (as in emit: one coroutine fewer than publish_async)
        await deliver_async(delivery, event, depth, DIRECT, caused)
        if caused:
            await delivery.drain_async(caused)

    # Closing (resetting and snapshots: see Snapshots) --------------------------------

    def on_close(self, callback: Callable[[], Any]) -> Callable[[], None]:
        """Run ``callback`` (plain or ``async def``) at close; the last one added runs first.

        Returns a function that takes the callback back unrun, if it is still pending.
        """
        return self._closing.add(callback)

    def close(self) -> None:
        """Run the close callbacks so plugins can flush what they hold.

        Each callback runs once; all run even if some raise, and the errors are then
        raised together as an ``ExceptionGroup``. The bus stays usable afterwards.
        If any callback is ``async def``, nothing runs and :class:`AsyncHandlerError`
        says to use :meth:`aclose`, which then runs them all. First it waits for the
        background subscribers to empty their queues (:meth:`drain`).
        """
        self._background.drain()
        self._closing.run()

    async def aclose(self) -> None:
        """Like :meth:`close`, awaiting ``async def`` callbacks (and :meth:`drain_async`)."""
        await self._background.drain_async()
        await self._closing.arun()


#: The process-wide bus; ``MessageBus()`` returns this same object.
message_bus = MessageBus()
