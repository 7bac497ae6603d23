"""The plugin's state on one bus: the engine that runs workflows there, and its run store.

Each bus has its own :class:`WorkflowsState` (in a :class:`~llmgine.plugins.BusState`),
made by ``install(bus, db=..., store=..., file_mode=...)`` or, without it, from
``LLMGINE_WORKFLOWS_DB`` and ``LLMGINE_WORKFLOWS_FILE_MODE`` when the plugin is
registered on the bus. Workflow definitions are per bus too (a
:class:`WorkflowRegistry`), like its command handlers.
"""

from __future__ import annotations

import os
from typing import Any

from llmgine.messages.bus import MessageBus, message_bus
from llmgine.messages.commands import ResumeWorkflowCommand, StartWorkflowCommand
from llmgine.plugins import BusState, install_plugin
from llmgine.plugins.files import file_mode_setting

from ._definition import Workflow
from ._engine import DB_ENV, FILE_MODE_ENV, WorkflowEngine
from ._registry import WorkflowRegistry
from ._store import RunStore
from .errors import WorkflowError

# (Its public names are exported, and listed, by the package.)

#: The entry-point name the plugin is registered under.
PLUGIN_NAME = "workflows"


class WorkflowsState:
    """One bus's workflows: its engine (bound when the plugin starts there) and definitions."""

    __slots__ = ("engine", "registry")

    def __init__(self, engine: WorkflowEngine, registry: WorkflowRegistry | None = None) -> None:
        self.engine = engine
        self.registry = WorkflowRegistry() if registry is None else registry

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


def _db_setting(db: object) -> str | None:
    """The ``db=`` given to ``install`` as a path, else ``LLMGINE_WORKFLOWS_DB``'s."""
    if db is None:
        return os.environ.get(DB_ENV) or None
    if not isinstance(db, str | os.PathLike):
        raise TypeError(f"llmgine_workflows.install(db=...) needs a file path, got {db!r}")
    return os.fspath(db)


def install(
    bus: MessageBus = message_bus,
    *,
    db: str | os.PathLike[str] | None = None,
    store: RunStore | None = None,
    file_mode: int | str | None = None,
) -> WorkflowEngine:
    """Run workflows on ``bus`` (default ``message_bus``), runs kept in file ``db`` or ``store``.

    ``db`` is like ``LLMGINE_WORKFLOWS_DB`` (neither given: that variable, else in
    memory), created if missing with mode ``file_mode`` (like
    ``LLMGINE_WORKFLOWS_FILE_MODE``: an octal string such as ``"0640"``, or an int;
    default 0600; an existing file keeps its mode); ``store`` a :class:`RunStore` of
    yours (it stays yours to close). Registers
    and starts the plugin on ``bus`` (idempotent; ``register_handlers(bus)`` before or
    after keeps these settings). Called again, it reconfigures ``bus``: the old engine
    is closed (with a store it opened) and new runs go to the new one. Returns the engine.
    """
    if store is None:
        mode = file_mode_setting(file_mode, FILE_MODE_ENV, "llmgine_workflows.install()")
        engine = WorkflowEngine(db=_db_setting(db), file_mode=mode)
    elif db is not None or file_mode is not None:
        raise ValueError(
            "llmgine_workflows.install() takes db= or store=, not both (file_mode= goes with "
            "db=): pass store=RunStore(db, file_mode=...) to use a store of your own there"
        )
    elif isinstance(store, RunStore):
        engine = WorkflowEngine(store)
    else:
        raise TypeError(f"llmgine_workflows.install(store=...) needs a RunStore, got {store!r}")
    old = _STATE.get(bus)
    _STATE.set(bus, WorkflowsState(engine, old.registry if old is not None else None))
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


def register_workflow(
    workflow: Workflow, *, source: str = "register_workflow()", bus: MessageBus = message_bus
) -> None:
    """Make ``workflow`` startable on ``bus`` with ``StartWorkflowCommand(workflow.name, input)``.

    Registering an equal definition again is a no-op; a different workflow with
    the same name raises :class:`WorkflowDefinitionError`. ``source`` (e.g. a
    plugin name) appears in error messages.
    """
    state_of(bus).registry.register(workflow, source=source)


def unregister_workflow(name: str, *, bus: MessageBus = message_bus) -> Workflow | None:
    """Forget workflow ``name`` on ``bus``; returns it, or ``None`` if it was not registered.

    A plugin's workflows are not declared again by its hook (each plugin is asked once).
    """
    return state_of(bus).registry.unregister(name)


def get_workflow(name: str, bus: MessageBus = message_bus) -> Workflow:
    """Return workflow ``name`` of ``bus``, or raise :class:`WorkflowNotFoundError`."""
    return state_of(bus).registry.get(name)


def registered_workflows(bus: MessageBus = message_bus) -> dict[str, Workflow]:
    """Return every workflow registered on ``bus`` by name (plugins' hooks collected first)."""
    return state_of(bus).registry.all()
