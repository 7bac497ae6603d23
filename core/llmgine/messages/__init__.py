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
    FieldError,
    InvalidPatternError,
    MessageBusException,
    MessageValidationError,
    NoActiveScopeError,
    SessionError,
    SubscriberBaseExceptionError,
    SubscriberError,
)
from .events import Event

if TYPE_CHECKING:
    from .conversion import from_json, json_schema, to_json, to_jsonable
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
    "FieldError",
    "InvalidPatternError",
    "MessageBus",
    "MessageBusException",
    "MessageValidationError",
    "NoActiveScopeError",
    "Plan",
    "Session",
    "SessionError",
    "Subscriber",
    "SubscriberBaseExceptionError",
    "SubscriberError",
    "Subscription",
    "SystemEvent",
    "from_json",
    "json_schema",
    "message_bus",
    "to_json",
    "to_jsonable",
]

if not TYPE_CHECKING:  # (a module __getattr__ would hide misspelled names from mypy)
    # built on first use, like the other core events (see messages/_lazy.py); the
    # conversion imports cattrs, which a process that never converts need not load
    __getattr__, __dir__ = lazy_names(
        __name__,
        {
            "SystemEvent": "llmgine.messages.events",
            **dict.fromkeys(
                ["from_json", "json_schema", "to_json", "to_jsonable"],
                "llmgine.messages.conversion",
            ),
        },
    )
