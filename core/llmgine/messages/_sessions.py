"""Sessions (SKELETON: issue 16's sessions helper replaces this module; the interface
below is agreed)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ._waiting import Waiting

if TYPE_CHECKING:
    from ._background import BackgroundQueues
    from ._handlers import HandlerTable
    from ._registry import SubscriberRegistry
    from .bus import MessageBus

__all__ = ["Session", "SessionTable", "SessionTableState"]

#: what a snapshot keeps of the sessions (``None``: no session open, no session handler)
SessionTableState = Any


class Session(Waiting):
    """One session of a bus."""


class SessionTable:
    """The open sessions of one bus."""

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
        self.open_sessions: dict[str, Session] = {}

    def open(self, bus: MessageBus, session_id: str | None) -> Session:
        """A new session of ``bus``."""
        raise NotImplementedError("sessions: being built (issue 16)")

    def view(self) -> Mapping[str, Session]:
        """The open sessions by id (read-only)."""
        return MappingProxyType(self.open_sessions)

    def state(self) -> SessionTableState:
        """What a snapshot keeps."""
        return None

    def replace(self, state: SessionTableState) -> None:
        """Put a snapshot's sessions back."""
