"""The open sessions of one bus (``bus.sessions``): opening them, removing what a closing
one registered, and what a snapshot keeps of them. The sessions are in :mod:`._sessions`."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from . import _ids
from ._sessions import Session
from .errors import SessionError

if TYPE_CHECKING:
    from ._background import BackgroundQueues
    from ._handlers import HandlerTable, SessionHandlers
    from ._registry import SubscriberRegistry
    from .bus import MessageBus

__all__ = ["SessionTable", "SessionTableState"]


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
            session.restored(None)
        for session, started in sessions.values():
            session.restored(started)
