"""The unit of work a handler or subscriber runs in, kept in a ``contextvars`` variable.

Each ``dispatch`` and each event delivery opens a :class:`Scope`. Because the
variable is per context, concurrent ``dispatch_async`` tasks and threads each see
their own scope, so ``add_pending_event`` can never queue an event into another
dispatch. The variable is module-level, not per bus, so a handler written against
the global ``message_bus`` also queues into a dispatch of an isolated bus.

A session (``bus.session()``) lives in the same variable, so that outside sessions
nothing but the one variable is read: entered outside any handler, it sets a
*root* scope (no message, nothing can be queued into it) that carries only the
session id; entered inside a handler, a :class:`SessionView` of the handler's scope
that queues into it. Every message stamped in a scope takes its ``session_id``.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from ._fields import slot_setter
from .commands import Command
from .errors import NoActiveScopeError
from .events import Event

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "Scope",
    "SessionView",
    "current_scope",
    "get_scope",
    "open_scope",
    "queue_pending",
    "reset_scope",
    "retire",
    "root_scope",
    "session_of",
    "session_scope",
    "set_scope",
    "stamp",
]


class Scope:
    """What the code handling one command or event queues into, and where it stands.

    ``pending`` stays ``None`` until the first event is queued: most handlers and
    subscribers queue none, and then no list is ever made.
    """

    # No __init__: calling a Python __init__ costs about 70 ns per message on CPython
    # 3.11 and 3.13 (a quarter of a dispatch), so the hot paths (open_scope, the plain
    # delivery) set the fields in place, and everything else uses Scope.new().
    __slots__ = ("closed", "correlation_id", "depth", "message_id", "pending", "session_id")

    #: the id of the command or event being handled (``None`` in a session's root scope)
    message_id: str | None
    #: its correlation id, which the messages it causes inherit
    correlation_id: str | None
    #: the session its messages belong to, which the messages it causes inherit
    session_id: str | None
    #: how many generations of events led here (0 for a top-level command)
    depth: int
    #: the events queued so far, in order (``None`` until the first)
    pending: list[Event] | None
    #: True once the handler or subscriber returned: later events have nowhere to go
    closed: bool

    @classmethod
    def new(
        cls, message_id: str | None, correlation_id: str | None, depth: int, session_id: str | None
    ) -> Scope:
        """An open scope with nothing queued."""
        scope = cls()
        scope.message_id = message_id
        scope.correlation_id = correlation_id
        scope.session_id = session_id
        scope.depth = depth
        scope.pending = None
        scope.closed = False
        return scope

    def queue(self, event: Event) -> None:
        """Queue ``event`` to be published when the code running in this scope succeeds."""
        if self.pending is None:
            self.pending = [event]
        else:
            self.pending.append(event)

    def take(self) -> list[Event] | None:
        """Return the queued events (``None`` if there are none) and empty the queue."""
        events, self.pending = self.pending, None
        return events

    def mark(self) -> int:
        """How many events are queued now: a mark for :meth:`discard_since`."""
        return 0 if self.pending is None else len(self.pending)

    def discard_since(self, mark: int) -> None:
        """Drop the events queued after :meth:`mark` returned ``mark`` (a failed attempt's)."""
        if self.pending is not None:
            if mark:
                del self.pending[mark:]
            else:
                self.pending = None

    def child(self) -> Scope:
        """A new open scope for the same message (an async subscriber's own)."""
        return Scope.new(self.message_id, self.correlation_id, self.depth, self.session_id)


class SessionView(Scope):
    """A session entered inside a handler or subscriber: the messages published in it
    take the session's id, and what is queued in it goes to the handler's scope."""

    __slots__ = ("parent",)

    def __init__(self, parent: Scope, session_id: str) -> None:
        self.parent = parent
        self.message_id = parent.message_id
        self.correlation_id = parent.correlation_id
        self.depth = parent.depth
        self.session_id = session_id

    # What is queued belongs to the handler's scope, and closes with it.
    @property
    def closed(self) -> bool:  # type: ignore[override]
        return self.parent.closed

    def queue(self, event: Event) -> None:
        self.parent.queue(event)

    def take(self) -> list[Event] | None:
        return self.parent.take()

    def mark(self) -> int:
        return self.parent.mark()

    def discard_since(self, mark: int) -> None:
        self.parent.discard_since(mark)


def root_scope(session_id: str) -> Scope:
    """A session's root scope: the scope it sets outside handlers (see the module).

    It never changes while it is current, so a session makes one for its own
    ``dispatch``/``emit`` calls and reuses it (no allocation per call).
    """
    root = Scope.new(None, None, 0, session_id)
    root.closed = True  # nothing to publish queued events after
    return root


def session_scope(session_id: str) -> Scope:
    """The scope to set while session ``session_id`` is the current one (see the module)."""
    parent = current_scope.get()
    if parent is None or parent.message_id is None:  # outside handlers (maybe in a session)
        return root_scope(session_id)
    return SessionView(parent, session_id)


def session_of(event: Event) -> str | None:
    """The session ``event`` is in: its ``session_id``, else (not stamped yet) the one it
    would be stamped with if published here, in the current scope."""
    if event.session_id is not None:
        return event.session_id
    scope = current_scope.get()
    return None if scope is None else scope.session_id


def retire(scope: Scope, previous: Scope | None) -> None:
    """Make a session's ``scope``, left set in a context its exit cannot reach, stamp
    as ``previous`` (the scope it replaced) does: what that context publishes later
    is no longer in the ended session.

    A ``with`` block's scope is reset by the context that entered it; a block that
    ends in another context (an async generator closed by another task) cannot reset
    the variable there, so it changes the scope itself instead.
    """
    scope.session_id = None if previous is None else previous.session_id


current_scope: ContextVar[Scope | None] = ContextVar("llmgine_scope", default=None)

# Bound once: every dispatch and every delivery calls them.
get_scope: Callable[[], Scope | None] = current_scope.get
set_scope: Callable[[Scope | None], Token[Scope | None]] = current_scope.set
reset_scope: Callable[[Token[Scope | None]], None] = current_scope.reset


def open_scope(command: Command[Any]) -> Scope:
    """Stamp a command's correlation and causation (unless set) and open its scope."""
    parent = current_scope.get()
    scope = Scope()  # (the fields set here, as in Scope.new(), without its call)
    scope.pending = None
    scope.closed = False
    scope.message_id = command.command_id
    if parent is None:
        if command.correlation_id is None:
            if command.__class__.__setattr__ is _plain_setattr:
                command.correlation_id = command.command_id  # (a fraction of the setter's cost)
            else:  # frozen
                _set_correlation_id(command, command.command_id)
        scope.depth = 0
    else:
        if command.correlation_id is None:  # (a session's root scope has none to give)
            _set_correlation_id(command, parent.correlation_id or command.command_id)
        if command.causation_id is None and parent.message_id is not None:
            _set_causation_id(command, parent.message_id)
        if parent.session_id is not None and command.session_id is None:
            _set_session_id(command, parent.session_id)
        scope.depth = parent.depth
    scope.correlation_id = command.correlation_id
    scope.session_id = command.session_id
    return scope


_plain_setattr = object.__setattr__
_set_correlation_id = slot_setter(Command, "correlation_id")
_set_causation_id = slot_setter(Command, "causation_id")
_set_session_id = slot_setter(Command, "session_id")


def queue_pending(event: Event) -> None:
    """Queue ``event`` in the current scope (``MessageBus.add_pending_event``)."""
    scope = current_scope.get()
    if scope is None or scope.closed:
        where = (
            "outside a command handler or event subscriber"
            if scope is None or scope.message_id is None
            else f"after the handler or subscriber of {scope.message_id} returned "
            "(from a task or thread it started that outlived it)"
        )
        raise NoActiveScopeError(
            f"add_pending_event() was called {where}, so there is nothing to publish it "
            "after; use message_bus.emit(event) (or await emit_async(event)) to publish "
            "it now"
        )
    stamp(event, scope, "add_pending_event")
    scope.queue(event)


def stamp(event: Event, scope: Scope | None, caller: str) -> int:
    """Fill an event's correlation and causation from the scope it is published from.

    Returns the event's depth. Raises ``TypeError`` naming ``caller`` (the public
    method ``event`` was handed to) if ``event`` is not an :class:`Event`.
    """
    if not isinstance(event, Event):
        raise TypeError(f"{caller}() needs an Event instance, got {event!r}")
    if scope is None:
        if event.correlation_id is None:
            _set_event_correlation_id(event, event.event_id)
        return 1
    # each unless set: a given correlation (e.g. a request id) still gets its cause
    if event.correlation_id is None:  # (a session's root scope has none to give)
        _set_event_correlation_id(event, scope.correlation_id or event.event_id)
    if event.causation_id is None:
        _set_event_causation_id(event, scope.message_id)
    if scope.session_id is not None and event.session_id is None:
        _set_event_session_id(event, scope.session_id)
    return scope.depth + 1


_set_event_correlation_id = slot_setter(Event, "correlation_id")
_set_event_causation_id = slot_setter(Event, "causation_id")
_set_event_session_id = slot_setter(Event, "session_id")
