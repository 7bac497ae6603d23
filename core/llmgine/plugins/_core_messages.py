"""The core's own events and commands, named for transports like any plugin's messages."""

from __future__ import annotations

from .. import hookimpl
from ..messages import commands, events
from ..messages.commands import Command
from ..messages.events import Event
from .catalog import RegisterMessage

__all__ = ["register_messages"]


@hookimpl
def register_messages(register: RegisterMessage) -> None:
    """Register the core's concrete messages as ``llmgine.<ClassName>`` (wire format 1)."""
    for module in (events, commands):
        for attr in module.__all__:
            cls = getattr(module, attr)
            is_message = isinstance(cls, type) and issubclass(cls, Event | Command)
            if is_message and cls not in (Event, Command):
                register(cls, f"llmgine.{cls.__name__}")
