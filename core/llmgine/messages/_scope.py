"""The unit of work a handler or subscriber runs in, kept in a ``contextvars`` variable.

Each ``dispatch`` and each event delivery opens a :class:`Scope`. Because the
variable is per context, concurrent ``dispatch_async`` tasks and threads each see
their own scope, so ``add_pending_event`` can never queue an event into another
dispatch. The variable is module-level, not per bus, so a handler written against
the global ``message_bus`` also queues into a dispatch of an isolated bus.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .events import Event

__all__ = ["Scope", "current_scope", "new_scope"]


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
