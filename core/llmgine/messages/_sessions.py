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
subscribers never see the end, the bus-wide ones do. How the start and end are
published is in :mod:`._session_events`; the table of a bus's open sessions in
:mod:`._session_table`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._background import Overflow, check_foreground
from ._fields import slot_setter
from ._scope import Scope, SessionView, get_scope, reset_scope, retire, root_scope, set_scope
from ._session_events import end_events, keep_body_error, refuse_async
from ._waiting import Waiting
from .errors import AsyncHandlerError, SessionError
from .events import Event

if TYPE_CHECKING:
    from contextvars import Token

    from ._session_table import SessionTable
    from ._subscribers import Subscription
    from ._typing import CommandClass, Handler
    from .bus import MessageBus
    from .commands import Command

__all__ = ["Session"]

R = TypeVar("R")
C = TypeVar("C", bound="Command[Any]")
E = TypeVar("E", bound=Event)

# A session's life: NEW (opened, nothing published), STARTED (SessionStarted went out),
# CLOSED (its registrations removed; SessionEnded went out, or waits in ``_ending`` for
# aclose(), unless the bus forgot it).
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
        self._block: Scope | None = None  # the scope its ``with`` block set
        self._entered = False
        self._root = root_scope(session_id)  # what its own dispatch/emit set (immutable)
        #: its end's events not published yet: a sync exit refused them (async subscribers)
        self._ending: list[Event] = []

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
        if self._state is not _STARTED:
            self._first_use("dispatch commands", "dispatch")
        token = set_scope(self._scope(self._root))
        try:
            return self.bus.dispatch(command)
        finally:
            reset_scope(token)

    async def dispatch_async(self, command: Command[R]) -> R:
        """``await bus.dispatch_async(command)`` with this session current."""
        if self._state is not _STARTED:
            await self._afirst_use("dispatch commands")
        token = set_scope(self._scope(self._root))
        try:
            return await self.bus.dispatch_async(command)
        finally:
            reset_scope(token)

    def emit(self, event: Event) -> None:
        """``bus.emit(event)`` with this session current: ``event`` gets its id, unless
        it has a ``session_id`` already (an event forwarded from another session keeps
        its own, as it keeps a ``correlation_id`` it has).

        The first of these calls (or entering the session) publishes
        ``SessionStarted``. Raises :class:`SessionError` once the session is closed.
        """
        if self._state is not _STARTED:
            self._first_use("emit events", "emit")
        token = set_scope(self._scope(self._root))
        try:
            self.bus.emit(event)
        finally:
            reset_scope(token)

    async def emit_async(self, event: Event) -> None:
        """``await bus.emit_async(event)`` with this session current."""
        if self._state is not _STARTED:
            await self._afirst_use("emit events")
        token = set_scope(self._scope(self._root))
        try:
            await self.bus.emit_async(event)
        finally:
            reset_scope(token)

    def _first_use(self, what: str, sync: str) -> None:
        """Refuse a closed session; start a new one (``sync``: see :meth:`_start`)."""
        with self._lock:
            started = self._start(what, sync)
        if started is not None:
            self._publish(started)

    async def _afirst_use(self, what: str) -> None:
        with self._lock:
            started = self._start(what, None)
        if started is not None:
            await self._publish_async(started)

    def _scope(self, root: Scope) -> Scope:
        """The scope making it current: ``root`` outside handlers (its own calls share
        one, as it never changes; a ``with`` block has its own), else a view of the
        handler's scope."""
        parent = get_scope()
        if parent is None or parent.message_id is None:
            return root
        return SessionView(parent, self.id)

    def _set_block(self) -> Token[Scope | None]:
        # A scope of its own (not the shared root): it may have to be retired (see _leave)
        self._block = scope = self._scope(root_scope(self.id))
        return set_scope(scope)

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
        started = self._enter("with")
        try:
            if started is not None:
                self._publish(started)
            self._token = self._set_block()
        except BaseException as exc:
            # (no __exit__ follows a failed __enter__)
            self._publish_all(self._finish(exc), exc, "exit")
            raise
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            self._leave()
        finally:
            self._publish_all(self._finish(exc), exc, "exit")

    async def __aenter__(self) -> Session:
        started = self._enter(None)
        try:
            if started is not None:
                await self._publish_async(started)
            # (a coroutine runs in its caller's context: the block sees the scope it sets)
            self._token = self._set_block()
        except BaseException as exc:
            await self._apublish_all(self._finish(exc), exc)
            raise
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            self._leave()
        finally:
            await self._apublish_all(self._finish(exc), exc)

    def close(self) -> None:
        """End the session: remove what was registered through it, then publish
        ``SessionEnded`` (with ``emit``). Closing it again does nothing.

        With ``async def`` subscribers of its end, raises :class:`AsyncHandlerError`
        before changing anything: use :meth:`aclose`."""
        with self._lock:
            ending = self._ending if self._state is _CLOSED else None
            events = self._end_classes() if ending is None else [e.__class__ for e in ending]
        sync = "close" if ending is None else "ended"  # (closed: its end kept by a block)
        refuse_async(self._table.registry, events, self.id, own=False, sync=sync)
        self._publish_all(self._finish(None), None, "ended")

    async def aclose(self) -> None:
        """Like :meth:`close`, publishing with ``emit_async`` (also the end that a sync
        ``with`` block could not publish)."""
        await self._apublish_all(self._finish(None), None)

    # Its life -------------------------------------------------------------------------------

    def _publish(self, event: Event) -> None:
        _set_session_id(event, self.id)  # (also outside the session's scope: its end)
        self.bus.emit(event)

    async def _publish_async(self, event: Event) -> None:
        _set_session_id(event, self.id)
        await self.bus.emit_async(event)

    def _publish_all(self, events: list[Event], body: BaseException | None, sync: str) -> None:
        """Publish its end's ``events`` with ``emit``: all of them, whatever one raises.

        Refused for async subscribers (before any ran), they wait for :meth:`aclose`.
        A failure is raised, or noted on ``body`` (what left the block), which propagates.
        """
        failure: Exception | None = None
        try:
            classes = [event.__class__ for event in events]
            refuse_async(self._table.registry, classes, self.id, own=False, sync=sync)
        except AsyncHandlerError as refused:
            with self._lock:
                self._ending[:0] = events
            events, failure = [], refused
        for event in events:
            try:
                self._publish(event)
            except Exception as exc:  # (its end is published all the same)
                if failure is None:
                    failure = exc
        self._raise(failure, body)

    async def _apublish_all(self, events: list[Event], body: BaseException | None) -> None:
        failure: Exception | None = None
        for event in events:
            try:
                await self._publish_async(event)
            except Exception as exc:
                if failure is None:
                    failure = exc
        self._raise(failure, body)

    def _raise(self, failure: Exception | None, body: BaseException | None) -> None:
        if failure is None:
            return
        if body is None:
            raise failure
        keep_body_error(body, failure, self.id)  # (the block's own error propagates)

    def _start(self, what: str, sync: str | None) -> Event | None:
        """(Under the lock.) Refuse a closed session; start a new one: return its
        SessionStarted, to publish. A sync call (``sync``: a key of ``SYNC_CALLS``) first
        refuses async subscribers of it, before any change."""
        self._refuse_if_closed(what)
        if self._state is not _NEW:
            return None
        from .events import SessionStarted

        if sync is not None:
            refuse_async(self._table.registry, [SessionStarted], self.id, own=True, sync=sync)
        self._state = _STARTED
        return SessionStarted()

    def _enter(self, sync: str | None) -> Event | None:
        with self._lock:
            self._refuse_if_closed("be entered")
            if self._entered:
                raise SessionError(
                    f"session {self.id!r} is already entered: a session's with block closes "
                    "it, so it is entered once; inside it, call the session's own dispatch/emit"
                )
            started = self._start("be entered", sync)
            self._entered = True
        return started

    def _leave(self) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        try:
            reset_scope(token)
        except ValueError:
            # The block ends in another context than it began (an async generator closed
            # by another task): that context cannot be reached, so its scope is retired.
            if self._block is not None:
                previous = token.old_value
                retire(self._block, None if previous is token.MISSING else previous)

    def _end_classes(self) -> list[type[Event]]:
        """(Under the lock, while open.) The classes of the events closing publishes."""
        from .events import SessionEnded, SessionStarted

        return [SessionEnded] if self._state is _STARTED else [SessionStarted, SessionEnded]

    def _finish(self, exc: BaseException | None) -> list[Event]:
        """Close the session: remove its registrations; return the events to publish
        (with those of its end that a sync exit could not publish)."""
        with self._lock:
            kept, self._ending = self._ending, []
            if self._state is _CLOSED:
                return kept
            state, self._state, self._closed_by = self._state, _CLOSED, "closed"
        self._table.close(self)
        return end_events(state is _STARTED, exc)

    def _refuse_if_closed(self, what: str) -> None:
        if self._state is _CLOSED:
            raise SessionError(
                f"session {self.id!r} is {self._closed_by}, so it cannot {what} any more; "
                "open a new one with bus.session()"
            )

    def restored(self, started: bool | None) -> None:
        """Put the session's life as a snapshot saw it (``None``: not in the snapshot)."""
        with self._lock:
            self._state = _CLOSED if started is None else _STARTED if started else _NEW
            self._closed_by = "forgotten by bus.reset() or a restore"
            self._ending = []


_set_session_id = slot_setter(Event, "session_id")
