"""llmgine's message system: commands, events and the bus that carries them.

The seed's modules keep their names: :mod:`~llmgine.messages.bus`,
:mod:`~llmgine.messages.commands`, :mod:`~llmgine.messages.events` and
:mod:`~llmgine.messages.handlers`; the most used names are re-exported here.
"""

from ._delivery import Failure
from ._subscribers import Plan, Subscriber, Subscription
from .bus import MessageBus, message_bus
from .commands import Command
from .errors import (
    AsyncHandlerError,
    CommandHandlerNotFound,
    DuplicateHandlerError,
    EventCascadeError,
    InvalidPatternError,
    MessageBusException,
    NoActiveScopeError,
    SubscriberError,
)
from .events import Event, SystemEvent

__all__ = [
    "AsyncHandlerError",
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
    "Subscriber",
    "SubscriberError",
    "Subscription",
    "SystemEvent",
    "message_bus",
]
