"""The core's own events and commands, named for transports like any plugin's messages."""

from __future__ import annotations

from .. import hookimpl
from ..messages._core_names import COMMAND_NAMES, EVENT_CLASSES
from .catalog import RegisterMessage

__all__ = ["register_messages"]


@hookimpl
def register_messages(register: RegisterMessage) -> None:
    """Register the core's concrete messages as ``llmgine.<ClassName>`` (wire format 1).

    By reference: the classes are built on first use, not when the plugins load.
    """
    for module, names in (
        ("llmgine.messages.events", EVENT_CLASSES),
        ("llmgine.messages.commands", COMMAND_NAMES),
    ):
        for name in names:
            register(f"{module}:{name}", f"llmgine.{name}")
