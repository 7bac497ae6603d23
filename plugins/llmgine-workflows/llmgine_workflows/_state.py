"""The plugin's state on one bus: the engine that runs workflows there, and its run store.

Each bus has its own :class:`WorkflowsState` (in a :class:`~llmgine.plugins.BusState`),
made by ``install(bus, db=..., store=...)`` or, without it, from ``LLMGINE_WORKFLOWS_DB``
when the plugin is registered on the bus. Workflow definitions are shared by the
process (see :mod:`._registry`): every bus can run every registered workflow.
"""

from __future__ import annotations

import os
from typing import Any

from llmgine.messages.bus import MessageBus, message_bus
from llmgine.messages.commands import ResumeWorkflowCommand, StartWorkflowCommand
from llmgine.plugins import BusState, install_plugin

from ._engine import DB_ENV, WorkflowEngine
from ._store import RunStore
from .errors import WorkflowError

__all__ = ["BusHandlers", "WorkflowsState", "engine_for", "find_state", "install", "state_of"]

#: The entry-point name the plugin is registered under.
PLUGIN_NAME = "workflows"


class WorkflowsState:
    """The workflows engine of one bus (bound to it when the plugin starts there)."""

    __slots__ = ("engine",)

    def __init__(self, engine: WorkflowEngine) -> None:
        self.engine = engine

    @classmethod
    def from_env(cls) -> WorkflowsState:
        """The state ``LLMGINE_WORKFLOWS_DB`` describes (a state made without ``install``)."""
        return cls(WorkflowEngine(db=os.environ.get(DB_ENV) or None))


_STATE: BusState[WorkflowsState] = BusState("llmgine-workflows")


def state_of(bus: MessageBus = message_bus) -> WorkflowsState:
    """The plugin's state on ``bus``; made from the environment if ``install`` gave none."""
    return _STATE.setdefault(bus, WorkflowsState.from_env)


def find_state(bus: MessageBus) -> WorkflowsState | None:
    """The plugin's state on ``bus``, or ``None`` if none was made there yet."""
    return _STATE.get(bus)


class BusHandlers:
    """The command handlers as registered on one bus: each uses that bus's current engine."""

    __slots__ = ("bus",)

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    def start(self, command: StartWorkflowCommand) -> Any:
        """``StartWorkflowCommand``: :meth:`WorkflowEngine.handle_start` of this bus's engine."""
        return state_of(self.bus).engine.handle_start(command)

    def resume(self, command: ResumeWorkflowCommand) -> Any:
        """``ResumeWorkflowCommand``: :meth:`WorkflowEngine.handle_resume` of this bus's engine."""
        return state_of(self.bus).engine.handle_resume(command)


def install(
    bus: MessageBus = message_bus,
    *,
    db: str | os.PathLike[str] | None = None,
    store: RunStore | None = None,
) -> WorkflowEngine:
    """Run workflows on ``bus`` (default ``message_bus``), runs kept in file ``db`` or ``store``.

    ``db`` is like ``LLMGINE_WORKFLOWS_DB`` (neither given: that variable, else in
    memory); ``store`` a :class:`RunStore` of yours (it stays yours to close). Registers
    and starts the plugin on ``bus`` (idempotent; ``register_handlers(bus)`` before or
    after keeps these settings). Called again, it reconfigures ``bus``: the old engine
    is closed (with a store it opened) and new runs go to the new one. Returns the engine.
    """
    if store is not None and not isinstance(store, RunStore):
        raise TypeError(f"llmgine_workflows.install(store=...) needs a RunStore, got {store!r}")
    if db is not None and not isinstance(db, str | os.PathLike):
        raise TypeError(f"llmgine_workflows.install(db=...) needs a file path, got {db!r}")
    if db is not None and store is not None:
        raise ValueError(
            "llmgine_workflows.install() takes db= or store=, not both: pass "
            "store=RunStore(db) to use a store of your own at that path"
        )
    engine = (
        WorkflowEngine(store)
        if store is not None
        else WorkflowEngine(db=os.fspath(db) if db is not None else os.environ.get(DB_ENV))
    )
    old = _STATE.get(bus)
    _STATE.set(bus, WorkflowsState(engine))
    if old is not None and old.engine.bound:
        old.engine.close()
    from . import plugin  # (the plugin module imports this one)

    install_plugin(bus, PLUGIN_NAME, plugin)
    engine.bind(bus)  # started before: startup does not run again
    return engine


def engine_for(bus: MessageBus | None = None) -> WorkflowEngine:
    """Return the engine handling workflows on ``bus`` (default ``message_bus``)."""
    bus = message_bus if bus is None else bus
    state = find_state(bus)
    if state is None or not state.engine.bound:
        raise WorkflowError(
            f"no workflows engine on {bus!r}; call llmgine.plugins.register_handlers(bus) "
            "with llmgine-workflows installed, or llmgine_workflows.install(bus)"
        )
    return state.engine
