"""Sessions: one conversation's (say) messages, subscribers and command handlers on a bus.

While a :class:`Session` is the current one (in its ``with`` block, or during its own
``dispatch``/``emit``), the scope variable of :mod:`._scope` carries its id, so every
message stamped there takes it, and so do the messages they cause, in tasks and
context-copying calls too. What is registered through the session is kept under its
id: the registry indexes session subscriptions by id, and the handler table routes
only the command classes some session handles (see :class:`._handlers.SessionRouter`).

A session starts (publishing ``SessionStarted``) when it is entered or first used
to dispatch or emit, and ends (publishing ``SessionEnded``) when it is closed or
its block exits: first everything registered through it is removed, so its own
subscribers never see the end, the bus-wide ones do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from . import _ids
from ._background import Overflow, check_foreground
from ._fields import slot_setter
from ._naming import type_name
from ._scope import Scope, reset_scope, session_scope, set_scope
from ._waiting import Waiting
from .errors import SessionError
from .events import Event

if TYPE_CHECKING:
    from contextvars import Token

    from ._background import BackgroundQueues
    from ._handlers import HandlerTable, SessionHandlers
    from ._registry import SubscriberRegistry
    from ._subscribers import Subscription
    from ._typing import CommandClass, Handler
    from .bus import MessageBus
    from .commands import Command

__all__ = ["Session", "SessionTable", "SessionTableState"]

R = TypeVar("R")
C = TypeVar("C", bound="Command[Any]")
E = TypeVar("E", bound=Event)

# A session's life: NEW (opened, nothing published), STARTED (SessionStarted went out),
# CLOSED (its registrations removed; SessionEnded went out unless the bus forgot it).
_NEW, _STARTED, _CLOSED = "new", "started", "closed"


class Session(Waiting):
    """One session of a bus (one conversation, say), from :meth:`MessageBus.session
    <llmgine.messages.bus.MessageBus.session>`.

    Use it as ``with``/``async with`` (the session is the current one inside the
    block and closes when the block exits), or call its :meth:`dispatch`,
    :meth:`emit` and their async forms, then :meth:`close`/:meth:`aclose`. Every
    message published while it is current carries its :attr:`id` as ``session_id``.
    :meth:`subscribe_event` receives only its events, :meth:`register_command`
    handles only its commands; both end with the session. ``expect``/``wait_for``
    wait for one of its events. See docs/guide/sessions.md.
    """

    #: the session's id: every message published in the session carries it as ``session_id``
    id: str
    #: the bus it belongs to
    bus: MessageBus

    def __init__(self, table: SessionTable, bus: MessageBus, session_id: str) -> None:
        self.id = session_id
        self.bus = bus
        self._table = table
        self._lock = threading.Lock()  # its life's changes, against registrations
        self._state = _NEW
        self._closed_by = ""  # how it was closed, for the error a later use gets
        self._token: Token[Scope | None] | None = None  # while its ``with`` block runs
        self._entered = False

    def __repr__(self) -> str:
        return f"<Session {self.id!r} ({self._state}) of {self.bus!r}>"

    @property
    def closed(self) -> bool:
        """Whether the session is closed (it then refuses to publish or register)."""
        return self._state is _CLOSED

    @property
    def started(self) -> bool:
        """Whether its ``SessionStarted`` was published (it is, on first use)."""
        return self._state is not _NEW

    # Publishing in the session ---------------------------------------------------------

    def dispatch(self, command: Command[R]) -> R:
        """``bus.dispatch(command)`` with this session current (see :meth:`emit`)."""
        token = self._current(self._use("dispatch commands"))
        try:
            return self.bus.dispatch(command)
        finally:
            reset_scope(token)

    async def dispatch_async(self, command: Command[R]) -> R:
        """``await bus.dispatch_async(command)`` with this session current."""
        token = await self._acurrent(self._use("dispatch commands"))
        try:
            return await self.bus.dispatch_async(command)
        finally:
            reset_scope(token)

    def emit(self, event: Event) -> None:
        """``bus.emit(event)`` with this session current: ``event`` gets its id.

        The first of these calls (or entering the session) publishes
        ``SessionStarted``. Raises :class:`SessionError` once the session is closed.
        """
        token = self._current(self._use("emit events"))
        try:
            self.bus.emit(event)
        finally:
            reset_scope(token)

    async def emit_async(self, event: Event) -> None:
        """``await bus.emit_async(event)`` with this session current."""
        token = await self._acurrent(self._use("emit events"))
        try:
            await self.bus.emit_async(event)
        finally:
            reset_scope(token)

    def _current(self, started: Event | None) -> Token[Scope | None]:
        """Publish ``started`` (if the session just started), then make it current."""
        if started is not None:
            self._publish(started)
        return set_scope(session_scope(self.id))

    async def _acurrent(self, started: Event | None) -> Token[Scope | None]:
        if started is not None:
            await self._publish_async(started)
        return set_scope(session_scope(self.id))

    # Registering for the session -------------------------------------------------------

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
        """Like :meth:`MessageBus.subscribe_event
        <llmgine.messages.bus.MessageBus.subscribe_event>`, for this session's events only
        (those whose ``session_id`` is its id); removed when the session closes."""
        self._refuse_if_closed("subscribe to events")
        if background:
            make = self._table.background.make(max_pending, overflow, at_most_once)
        else:
            check_foreground(max_pending, overflow, at_most_once)
            make = None
        with self._lock:  # (so that a racing close removes it, or it is refused)
            self._refuse_if_closed("subscribe to events")
            return self._table.registry.add(
                event_type, handler, priority=priority, session_id=self.id, background=make
            )

    def register_command(
        self,
        command_type: CommandClass[C, R],
        handler: Handler[C, R],
        *,
        source: str | None = None,
    ) -> None:
        """Make ``handler`` this session's handler of ``command_type`` (and of subclasses
        without a handler of their own in the session), removed when the session closes.

        It handles the commands of this session only, before any handler of the bus;
        the bus's handler keeps handling every other session's commands (and without
        one they raise :class:`CommandHandlerNotFound`). Raises
        :class:`DuplicateHandlerError` if the session has a handler of the type already.
        """
        with self._lock:
            self._refuse_if_closed("register command handlers")
            self._table.handlers.add_session(self.id, command_type, handler, source)

    # Entering and closing ------------------------------------------------------------------

    def __enter__(self) -> Session:
        started = self._enter()
        try:
            self._token = self._current(started)
        except BaseException:
            self._abandon()  # (no __exit__ follows a failed __enter__)
            raise
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            self._leave()
        finally:
            for event in self._finish(exc):
                self._publish(event)

    async def __aenter__(self) -> Session:
        started = self._enter()
        try:
            # (a coroutine runs in its caller's context: the block sees the scope it sets)
            self._token = await self._acurrent(started)
        except BaseException:
            self._abandon()
            raise
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            self._leave()
        finally:
            for event in self._finish(exc):
                await self._publish_async(event)

    def close(self) -> None:
        """End the session: remove what was registered through it, then publish
        ``SessionEnded`` (with ``emit``). Closing it again does nothing."""
        for event in self._finish(None):
            self._publish(event)

    async def aclose(self) -> None:
        """Like :meth:`close`, publishing with ``emit_async``."""
        for event in self._finish(None):
            await self._publish_async(event)

    # Its life -------------------------------------------------------------------------------

    def _publish(self, event: Event) -> None:
        _set_session_id(event, self.id)  # (also outside the session's scope: its end)
        self.bus.emit(event)

    async def _publish_async(self, event: Event) -> None:
        _set_session_id(event, self.id)
        await self.bus.emit_async(event)

    def _use(self, what: str) -> Event | None:
        """Refuse a closed session; start a new one: its SessionStarted, to publish."""
        if self._state is _STARTED:  # (the common case, without the lock)
            return None
        with self._lock:
            self._refuse_if_closed(what)
            if self._state is not _NEW:
                return None
            self._state = _STARTED
        from .events import SessionStarted

        return SessionStarted()

    def _enter(self) -> Event | None:
        with self._lock:
            self._refuse_if_closed("be entered")
            if self._entered:
                raise SessionError(
                    f"session {self.id!r} is already entered: a session's with block closes "
                    "it, so it is entered once; inside it, call the session's own dispatch/emit"
                )
            self._entered = True
        return self._use("be entered")

    def _leave(self) -> None:
        token, self._token = self._token, None
        if token is not None:
            reset_scope(token)

    def _abandon(self) -> None:
        """Close without publishing: its SessionStarted could not be published."""
        with self._lock:
            self._state, self._closed_by = _CLOSED, "its SessionStarted failed to publish"
        self._table.close(self)

    def _finish(self, exc: BaseException | None) -> list[Event]:
        """Close the session: remove its registrations; return the events to publish."""
        with self._lock:
            if self._state is _CLOSED:
                return []
            state, self._state, self._closed_by = self._state, _CLOSED, "closed"
        self._table.close(self)
        from .events import SessionEnded, SessionStarted

        events: list[Event] = [] if state is _STARTED else [SessionStarted()]
        # ``SessionEnded.error``: the exception's type and message ("ValueError: bad")
        error = None if exc is None else type_name(exc.__class__) + (f": {exc}" if str(exc) else "")
        events.append(SessionEnded(error=error))
        return events

    def _refuse_if_closed(self, what: str) -> None:
        if self._state is _CLOSED:
            raise SessionError(
                f"session {self.id!r} is {self._closed_by}, so it cannot {what} any more; "
                "open a new one with bus.session()"
            )

    def _restored(self, started: bool | None) -> None:
        """Put the session's life as a snapshot saw it (``None``: not in the snapshot)."""
        with self._lock:
            self._state = _CLOSED if started is None else _STARTED if started else _NEW
            self._closed_by = "forgotten by bus.reset() or a restore"


_set_session_id = slot_setter(Event, "session_id")


class SessionTableState(NamedTuple):
    """What a snapshot keeps of a bus's sessions (compared with ``!=``)."""

    #: session id -> (the open session, whether it has started)
    sessions: dict[str, tuple[Session, bool]]
    #: the sessions' own command handlers
    handlers: SessionHandlers


class SessionTable:
    """The open sessions of one bus: opens them, and removes what a closing one registered."""

    def __init__(
        self,
        lock: threading.Lock,
        handlers: HandlerTable,
        registry: SubscriberRegistry,
        background: BackgroundQueues,
    ) -> None:
        self.lock = lock
        self.handlers = handlers
        self.registry = registry
        self.background = background
        #: session id -> the open session (changed in place: :meth:`view` shows it live)
        self.open_sessions: dict[str, Session] = {}

    def open(self, bus: MessageBus, session_id: str | None) -> Session:
        """A new session of ``bus``, open from now on; raises :class:`SessionError` if
        ``session_id`` is the id of an open one."""
        if session_id is None:
            session_id = _ids.new_id()
        elif not isinstance(session_id, str):
            raise TypeError(f"session_id must be a str or None, got {session_id!r}")
        elif not session_id:
            raise ValueError("session_id must not be empty (pass None for a generated one)")
        session = Session(self, bus, session_id)
        with self.lock:
            if session_id in self.open_sessions:
                raise SessionError(
                    f"session {session_id!r} is already open on this bus; use it "
                    f"(bus.sessions[{session_id!r}]), close it first, or open another id "
                    "(bus.session() without an id generates a unique one)"
                )
            self.open_sessions[session_id] = session
        return session

    def close(self, session: Session) -> None:
        """Remove what ``session`` registered, then the session (unless the bus forgot it)."""
        with self.lock:
            if self.open_sessions.get(session.id) is not session:
                return  # forgotten by a reset: its registrations went with it
        # Removed while the id is still taken, so that no new session of the same id
        # can register something in between, which this would remove.
        self.registry.remove_session(session.id)
        self.handlers.remove_session(session.id)
        with self.lock:
            if self.open_sessions.get(session.id) is session:  # (unless a reset came first)
                del self.open_sessions[session.id]

    def view(self) -> Mapping[str, Session]:
        """The open sessions by id (read-only, live)."""
        return MappingProxyType(self.open_sessions)

    def state(self) -> SessionTableState | None:
        """What a snapshot keeps: ``None`` when no session is open and none has a handler."""
        handlers = self.handlers.session_state()
        with self.lock:
            sessions = {sid: (s, s.started) for sid, s in self.open_sessions.items()}
        if not sessions and not handlers:
            return None
        return SessionTableState(sessions, handlers)

    def replace(self, state: SessionTableState | None) -> None:
        """Put a snapshot's sessions back: those opened since are forgotten (closed
        without publishing anything), those closed since are open again."""
        sessions = {} if state is None else state.sessions
        with self.lock:
            kept = {id(session) for session, _ in sessions.values()}
            forgotten = [s for s in self.open_sessions.values() if id(s) not in kept]
            self.open_sessions.clear()
            self.open_sessions.update({sid: session for sid, (session, _) in sessions.items()})
        self.handlers.replace_sessions({} if state is None else state.handlers)
        for session in forgotten:
            session._restored(None)
        for session, started in sessions.values():
            session._restored(started)
