"""The unit of work a handler or subscriber runs in, kept in a ``contextvars`` variable.

Each ``dispatch`` and each event delivery opens a scope (see :data:`Scope`). Because the
variable is per context, concurrent ``dispatch_async`` tasks and threads each see
their own scope, so ``add_pending_event`` can never queue an event into another
dispatch. The variable is module-level, not per bus, so a handler written against
the global ``message_bus`` also queues into a dispatch of an isolated bus.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, TypeAlias

from ._fields import slot_setter
from .commands import Command
from .events import Event

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "CLOSED",
    "CORRELATION_ID",
    "DEPTH",
    "MESSAGE_ID",
    "PENDING",
    "Scope",
    "current_scope",
    "get_scope",
    "new_scope",
    "open_scope",
    "reset_scope",
    "set_scope",
    "stamp",
]


#: A scope is a five-item list, indexed by the constants below: the cheapest object
#: Python makes (a slotted instance costs almost 3x as much), and every dispatch and
#: every event delivery makes one.
Scope: TypeAlias = list[Any]

#: the id of the command or event being handled
MESSAGE_ID = 0
#: its correlation id, which the messages it causes inherit
CORRELATION_ID = 1
#: how many generations of events led here (0 for a top-level command)
DEPTH = 2
#: the events queued by the code running in this scope; None until the first one
PENDING = 3
#: True once the handler or subscriber returned: later events have nowhere to go
CLOSED = 4


def new_scope(message_id: str, correlation_id: str | None, depth: int) -> Scope:
    """An open scope with nothing queued (hot paths write the list literal instead)."""
    return [message_id, correlation_id, depth, None, False]


current_scope: ContextVar[Scope | None] = ContextVar("llmgine_scope", default=None)

# current_scope's methods, bound once for the hot paths. CPython 3.11 compiles
# ``current_scope.set(x)`` in a module that imported the name as an attribute load
# that makes a new bound method on every call (it assumes an imported name is a
# module); these save that on every dispatch and delivery.
get_scope: Callable[[], Scope | None] = current_scope.get
set_scope: Callable[[Scope | None], Token[Scope | None]] = current_scope.set
reset_scope: Callable[[Token[Scope | None]], None] = current_scope.reset


def open_scope(command: Command[Any]) -> Scope:
    """Stamp a command's correlation and causation (unless set) and open its scope."""
    parent = current_scope.get()
    if parent is None:
        if command.correlation_id is None:
            if command.__class__.__setattr__ is _plain_setattr:
                command.correlation_id = command.command_id  # (a fraction of the setter's cost)
            else:  # frozen
                _set_correlation_id(command, command.command_id)
        return [command.command_id, command.correlation_id, 0, None, False]
    if command.correlation_id is None:
        _set_correlation_id(command, parent[CORRELATION_ID])
    if command.causation_id is None:
        _set_causation_id(command, parent[MESSAGE_ID])
    return [command.command_id, command.correlation_id, parent[DEPTH], None, False]


_plain_setattr = object.__setattr__
_set_correlation_id = slot_setter(Command, "correlation_id")
_set_causation_id = slot_setter(Command, "causation_id")


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
    if event.correlation_id is None:
        _set_event_correlation_id(event, scope[CORRELATION_ID])
    if event.causation_id is None:
        _set_event_causation_id(event, scope[MESSAGE_ID])
    return scope[DEPTH] + 1  # type: ignore[no-any-return]


_set_event_correlation_id = slot_setter(Event, "correlation_id")
_set_event_causation_id = slot_setter(Event, "causation_id")
