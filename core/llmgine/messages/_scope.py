"""The unit of work a handler or subscriber runs in, kept in a ``contextvars`` variable.

Each ``dispatch`` and each event delivery opens a :class:`Scope`. Because the
variable is per context, concurrent ``dispatch_async`` tasks and threads each see
their own scope, so ``add_pending_event`` can never queue an event into another
dispatch. The variable is module-level, not per bus, so a handler written against
the global ``message_bus`` also queues into a dispatch of an isolated bus.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from ._fields import slot_setter
from .commands import Command
from .events import Event

__all__ = ["Scope", "current_scope", "new_scope", "open_scope", "stamp"]


class Scope:
    """What is being handled: its message id, its correlation, and the events it queued."""

    __slots__ = ("closed", "correlation_id", "depth", "message_id", "pending")

    def __init__(self, message_id: str, correlation_id: str, depth: int) -> None:
        self.message_id = message_id
        self.correlation_id = correlation_id
        #: how many generations of events led here (0 for a top-level command)
        self.depth = depth
        #: events queued by the code running in this scope; None until the first one
        self.pending: list[Event] | None = None
        #: set when the handler or subscriber returned: later events have nowhere to go
        self.closed = False


#: ``new_scope(Scope)`` makes an empty scope, for code that fills the five slots itself
#: because ``Scope(...)`` costs an ``__init__`` call per event (see ``_delivery``).
new_scope = object.__new__

current_scope: ContextVar[Scope | None] = ContextVar("llmgine_scope", default=None)


def open_scope(command: Command[Any]) -> Scope:
    """Stamp a command's correlation and causation (unless set) and open its scope."""
    parent = current_scope.get()
    if parent is None:
        if command.correlation_id is None:
            _set_correlation_id(command, command.command_id)
        depth = 0
    else:
        if command.correlation_id is None:
            _set_correlation_id(command, parent.correlation_id)
        if command.causation_id is None:
            _set_causation_id(command, parent.message_id)
        depth = parent.depth
    # Scope(command.command_id, command.correlation_id, depth), minus the __init__ call
    scope = new_scope(Scope)
    scope.message_id = command.command_id
    scope.correlation_id = command.correlation_id  # type: ignore[assignment]
    scope.depth = depth
    scope.pending = None
    scope.closed = False
    return scope


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
        _set_event_correlation_id(event, scope.correlation_id)
    if event.causation_id is None:
        _set_event_causation_id(event, scope.message_id)
    return scope.depth + 1


_set_event_correlation_id = slot_setter(Event, "correlation_id")
_set_event_causation_id = slot_setter(Event, "causation_id")
