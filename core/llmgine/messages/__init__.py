"""llmgine's message system: commands, events and the bus that carries them.

The seed's modules keep their names: :mod:`~llmgine.messages.bus`,
:mod:`~llmgine.messages.commands`, :mod:`~llmgine.messages.events` and
:mod:`~llmgine.messages.handlers`; the most used names are re-exported here.
"""

from typing import TYPE_CHECKING

from ._delivery import Failure
from ._lazy import lazy_names
from ._subscribers import Plan, Subscriber, Subscription
from .bus import MessageBus, Session, message_bus
from .commands import Command
from .errors import (
    AsyncHandlerError,
    BackgroundError,
    BackgroundOverflowError,
    CommandHandlerNotFound,
    DuplicateHandlerError,
    EventCascadeError,
    InvalidPatternError,
    MessageBusException,
    NoActiveScopeError,
    SessionError,
    SubscriberBaseExceptionError,
    SubscriberError,
)
from .events import Event

if TYPE_CHECKING:
    from .events import SystemEvent

__all__ = [
    "AsyncHandlerError",
    "BackgroundError",
    "BackgroundOverflowError",
    "Command",
    "CommandHandlerNotFound",
    "DuplicateHandlerError",
    "Event",
    "EventCascadeError",
    "Failure",
    "InvalidPatternError",
    "MessageBus",
    "MessageBusException",
    "NoActiveScopeError",
    "Plan",
    "Session",
    "SessionError",
    "Subscriber",
    "SubscriberBaseExceptionError",
    "SubscriberError",
    "Subscription",
    "SystemEvent",
    "message_bus",
]

if not TYPE_CHECKING:  # (a module __getattr__ would hide misspelled names from mypy)
    # built on first use, like the other core events: see messages/_lazy.py
    __getattr__, __dir__ = lazy_names(__name__, "llmgine.messages.events", ["SystemEvent"])
