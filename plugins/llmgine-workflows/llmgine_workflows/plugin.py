"""The plugin's hooks (the entry point ``workflows``).

Importing it adds the ``register_workflows`` hookspec to llmgine's plugin
manager. The core checks for unknown hooks only after every plugin has loaded,
so plugins implementing ``register_workflows`` may load before this one.
"""

from __future__ import annotations

import argparse
import os

import llmgine
from llmgine.messages.bus import MessageBus, message_bus
from llmgine.messages.commands import ResumeWorkflowCommand, StartWorkflowCommand
from llmgine.plugins import PluginStatus, Register

from . import _cli
from ._engine import DB_ENV
from ._registry import ensure_hookspec
from ._state import BusHandlers, find_state, state_of

__all__ = ["plugin_status", "register_cli", "register_commands", "startup"]

ensure_hookspec()


@llmgine.hookimpl
def register_commands(register: Register, bus: MessageBus) -> None:
    """Handle ``StartWorkflowCommand`` and ``ResumeWorkflowCommand`` with ``bus``'s engine.

    The engine is made here (from the environment, unless ``install`` made it) but
    bound, which opens its run store, only at ``startup``: ``llmgine plugins`` calls
    this hook on a throwaway bus that is never started.
    """
    state_of(bus)
    handlers = BusHandlers(bus)
    register(StartWorkflowCommand, handlers.start)
    register(ResumeWorkflowCommand, handlers.resume)


@llmgine.hookimpl
def startup(bus: MessageBus) -> None:
    """Bind ``bus``'s engine to it and collect every plugin's workflows for ``bus``.

    After ``bus.close()`` the handlers stay registered and ``register_handlers()``
    runs ``startup`` again without ``register_commands``: the closed engine is bound
    again, which reopens a store it opened itself.
    """
    state = state_of(bus)
    state.engine.bind(bus)
    state.registry.collect()


@llmgine.hookimpl
def plugin_status() -> PluginStatus:
    """Active; runs survive the process only in a file (``LLMGINE_WORKFLOWS_DB``, ``install``).

    Describes ``message_bus``'s engine, or the one the environment would give it.
    """
    state = find_state(message_bus)
    path = state.engine.path if state is not None else os.environ.get(DB_ENV) or None
    if path is not None and path != ":memory:":
        return PluginStatus(active=True, detail=f"workflow runs are kept in {path}")
    return PluginStatus(
        active=True,
        detail="workflow runs are kept in memory only (lost at exit, cannot be resumed)",
        activate=f"set {DB_ENV}=/path/to/workflows.sqlite3 (or call "
        "llmgine_workflows.install(bus, db=path)) to persist and resume runs",
    )


@llmgine.hookimpl
def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``llmgine workflows list|show|resume``."""
    _cli.add_commands(subparsers)
