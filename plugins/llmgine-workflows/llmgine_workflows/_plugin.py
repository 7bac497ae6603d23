"""The plugin object (entry point ``workflows``): llmgine's hooks for this plugin.

Importing it adds the ``register_workflows`` hookspec to llmgine's plugin
manager. The core checks for unknown hooks only after every plugin has loaded,
so plugins implementing ``register_workflows`` may load before this one.
"""

from __future__ import annotations

import argparse
import os
import weakref
from collections.abc import Callable
from typing import Any

import llmgine
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import ResumeWorkflowCommand, StartWorkflowCommand
from llmgine.plugins import PluginStatus

from . import _cli
from ._engine import DB_ENV, WorkflowEngine, bound_engine
from ._registry import collect_plugin_workflows, ensure_hookspec

ensure_hookspec()

#: Each bus's engine, from ``register_commands`` until ``startup`` binds it. Binding
#: opens the run store, so it waits for ``startup``: ``llmgine plugins`` calls
#: ``register_commands`` on a throwaway bus that is never started.
_unbound: weakref.WeakKeyDictionary[MessageBus, WorkflowEngine] = weakref.WeakKeyDictionary()


@llmgine.hookimpl
def register_commands(
    register: Callable[[type, Callable[[Any], Any]], None], bus: MessageBus
) -> None:
    """Handle ``StartWorkflowCommand`` and ``ResumeWorkflowCommand``."""
    engine = WorkflowEngine()
    register(StartWorkflowCommand, engine.handle_start)
    register(ResumeWorkflowCommand, engine.handle_resume)
    _unbound[bus] = engine


@llmgine.hookimpl
def startup(bus: MessageBus) -> None:
    """Bind the engine to ``bus`` and collect every plugin's workflows.

    After ``bus.close()`` the handlers stay registered and ``register_handlers()``
    runs ``startup`` again without ``register_commands``: rebind the closed engine.
    """
    ensure_hookspec()
    engine = _unbound.pop(bus, None) or bound_engine(bus)
    if engine is not None:
        engine.bind(bus)
    collect_plugin_workflows()


@llmgine.hookimpl
def plugin_status() -> PluginStatus:
    """Active; runs survive the process only when ``LLMGINE_WORKFLOWS_DB`` is set."""
    path = os.environ.get(DB_ENV)
    if path:
        return PluginStatus(active=True, detail=f"workflow runs are kept in {path}")
    return PluginStatus(
        active=True,
        detail="workflow runs are kept in memory only (lost at exit, cannot be resumed)",
        activate=f"set {DB_ENV}=/path/to/workflows.sqlite3 to persist and resume runs",
    )


@llmgine.hookimpl
def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``llmgine workflows list|show|resume``."""
    _cli.add_commands(subparsers)
