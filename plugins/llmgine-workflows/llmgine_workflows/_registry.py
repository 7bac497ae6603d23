"""The process's workflow definitions: registered directly or by plugins' hooks.

Definitions are process-wide (like plugins); each bus's engine looks them up
when a run starts. Plugins' ``register_workflows`` hooks are collected lazily
(at bus startup and before a run starts or resumes), each plugin once, so a
plugin added with ``llmgine.plugins.register_plugin`` later is picked up too.
"""

from __future__ import annotations

import threading
import weakref

import pluggy
from llmgine.plugins import get_plugin_manager

from . import hookspecs
from ._definition import Workflow
from .errors import WorkflowDefinitionError, WorkflowNotFoundError

__all__ = [
    "collect_plugin_workflows",
    "ensure_hookspec",
    "get_workflow",
    "register_workflow",
    "registered_workflows",
    "unregister_workflow",
]

_lock = threading.RLock()
#: name -> (workflow, where it came from)
_workflows: dict[str, tuple[Workflow, str]] = {}
#: plugin manager -> names of the plugins whose register_workflows hook has run
_collected: weakref.WeakKeyDictionary[pluggy.PluginManager, set[str]] = weakref.WeakKeyDictionary()


def ensure_hookspec() -> pluggy.PluginManager:
    """Add the ``register_workflows`` hookspec to llmgine's plugin manager (once)."""
    pm = get_plugin_manager()
    with _lock:
        caller = getattr(pm.hook, "register_workflows", None)
        if caller is None or not caller.has_spec():
            pm.add_hookspecs(hookspecs)
    return pm


def register_workflow(workflow: Workflow, *, source: str = "register_workflow()") -> None:
    """Make ``workflow`` startable with ``StartWorkflowCommand(workflow.name, input)``.

    Registering an equal definition again is a no-op; a different workflow with
    the same name raises :class:`WorkflowDefinitionError`. ``source`` (e.g. a
    plugin name) appears in error messages.
    """
    if not isinstance(workflow, Workflow):
        raise WorkflowDefinitionError(
            f"{source} registered {workflow!r}, which is not a Workflow; "
            "register Workflow(name, [Step(...), ...])"
        )
    with _lock:
        existing = _workflows.get(workflow.name)
        if existing is not None:
            if existing[0] == workflow:
                return
            raise WorkflowDefinitionError(
                f"workflow {workflow.name!r} from {source} clashes with the workflow of the "
                f"same name from {existing[1]}; workflow names must be unique: rename one"
            )
        _workflows[workflow.name] = (workflow, source)


def collect_plugin_workflows() -> None:
    """Run the ``register_workflows`` hook of every plugin not yet asked."""
    pm = ensure_hookspec()
    with _lock:
        done = _collected.setdefault(pm, set())
        for impl in pm.hook.register_workflows.get_hookimpls():
            if impl.plugin_name in done:
                continue
            source = f"plugin {impl.plugin_name!r}"

            def register(workflow: Workflow, source: str = source) -> None:
                register_workflow(workflow, source=source)

            impl.function(*(register for _ in impl.argnames))
            done.add(impl.plugin_name)


def get_workflow(name: str) -> Workflow:
    """Return the registered workflow ``name``, or raise :class:`WorkflowNotFoundError`."""
    collect_plugin_workflows()
    with _lock:
        found = _workflows.get(name)
        if found is None:
            known = ", ".join(sorted(_workflows)) or "none"
            raise WorkflowNotFoundError(
                f"no workflow named {name!r} is registered (registered: {known}); register it "
                "with llmgine_workflows.register_workflow() or a plugin's register_workflows hook"
            )
        return found[0]


def registered_workflows() -> dict[str, Workflow]:
    """Return every registered workflow by name (plugins' hooks collected first)."""
    collect_plugin_workflows()
    with _lock:
        return {name: wf for name, (wf, _) in _workflows.items()}


def unregister_workflow(name: str) -> Workflow | None:
    """Forget the workflow ``name`` (e.g. between tests); returns it, or ``None`` if unknown.

    A plugin's workflows are not declared again by its hook (each plugin is asked once).
    """
    with _lock:
        found = _workflows.pop(name, None)
    return None if found is None else found[0]
