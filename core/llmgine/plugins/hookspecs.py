"""The hooks a plugin can implement: llmgine's contract with plugin authors.

Each hook is documented in full in the hook reference (docs/hooks.md); the
one-line docstrings here are what ``llmgine plugins`` and editors show.
Plugins implement them as plain functions marked with ``@llmgine.hookimpl``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .. import hookspec

if TYPE_CHECKING:
    import argparse

    from ..messages._typing import Register, Subscribe
    from ..messages.bus import MessageBus
    from .catalog import RegisterMessage
    from .channels import TransportInfo
    from .status import PluginStatus

__all__ = [
    "describe_channels",
    "plugin_status",
    "register_cli",
    "register_commands",
    "register_messages",
    "register_middleware",
    "register_subscribers",
    "shutdown",
    "startup",
]


@hookspec
def register_commands(register: Register, bus: MessageBus) -> None:
    """Register command handlers by calling ``register(CommandType, handler)``."""


@hookspec
def register_subscribers(subscribe: Subscribe, bus: MessageBus) -> None:
    """Subscribe to events: ``subscribe(key, handler, priority=0, ...)`` (subscribe_event's)."""


@hookspec
def register_middleware(
    add_command_middleware: Callable[[Any], None],
    add_event_middleware: Callable[[Any], None],
    bus: MessageBus,
) -> None:
    """Wrap handlers: ``add_command_middleware(mw)``, ``add_event_middleware(mw)`` (call_next)."""


@hookspec
def register_messages(register: RegisterMessage) -> None:
    """Name the events and commands that may cross a transport: ``register(cls[, "wire.name"])``."""


@hookspec
def startup(bus: MessageBus) -> None:
    """Called per start of a bus, after every plugin's handlers and subscribers are registered."""


@hookspec
def shutdown(bus: MessageBus) -> None:
    """Called when the bus is closed: flush and release what the plugin holds."""


@hookspec
def plugin_status() -> PluginStatus | None:
    """Return whether the plugin is active, or idle until configured (and how to activate it)."""


@hookspec
def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``llmgine`` subcommands: ``subparsers.add_parser(...).set_defaults(func=...)``."""


@hookspec
def describe_channels(messages: Mapping[str, type], bus: MessageBus) -> TransportInfo | None:
    """Transports: describe the channels ``messages`` (wire name -> class) travel on, or None."""
