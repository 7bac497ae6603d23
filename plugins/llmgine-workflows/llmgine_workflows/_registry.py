"""Each bus's workflow definitions: registered directly or by plugins' hooks.

A bus's :class:`WorkflowRegistry` lives in the plugin's state on that bus (see
:mod:`._state`), like the bus's command handlers, so two buses can run different
workflows. Plugins' ``register_workflows`` hooks are collected lazily (at the bus's
startup and before a run starts or resumes), each plugin once per bus, so a plugin
added with ``llmgine.plugins.register_plugin`` later is picked up too.
"""

from __future__ import annotations

import threading
import weakref

import pluggy
from llmgine.plugins import get_plugin_manager

from . import hookspecs
from ._definition import Workflow
from .errors import WorkflowDefinitionError, WorkflowNotFoundError

__all__ = ["WorkflowRegistry", "ensure_hookspec"]

_hookspec_lock = threading.Lock()


def ensure_hookspec() -> pluggy.PluginManager:
    """Add the ``register_workflows`` hookspec to llmgine's plugin manager (once)."""
    pm = get_plugin_manager()
    with _hookspec_lock:
        caller = getattr(pm.hook, "register_workflows", None)
        if caller is None or not caller.has_spec():
            pm.add_hookspecs(hookspecs)
    return pm


class WorkflowRegistry:
    """The workflows one bus can run, by name, with where each came from."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        #: name -> (workflow, where it came from)
        self._workflows: dict[str, tuple[Workflow, str]] = {}
        #: plugin manager -> names of the plugins whose register_workflows hook has run
        self._collected: weakref.WeakKeyDictionary[pluggy.PluginManager, set[str]] = (
            weakref.WeakKeyDictionary()
        )

    def register(self, workflow: Workflow, *, source: str = "register_workflow()") -> None:
        """Add ``workflow``; an equal one again is a no-op, another of that name an error."""
        if not isinstance(workflow, Workflow):
            raise WorkflowDefinitionError(
                f"{source} registered {workflow!r}, which is not a Workflow; "
                "register Workflow(name, [Step(...), ...])"
            )
        with self._lock:
            existing = self._workflows.get(workflow.name)
            if existing is not None:
                if existing[0] == workflow:
                    return
                raise WorkflowDefinitionError(
                    f"workflow {workflow.name!r} from {source} clashes with the workflow of the "
                    f"same name from {existing[1]}; workflow names must be unique: rename one"
                )
            self._workflows[workflow.name] = (workflow, source)

    def unregister(self, name: str) -> Workflow | None:
        """Forget workflow ``name``; returns it, or ``None`` if there was none."""
        with self._lock:
            found = self._workflows.pop(name, None)
        return None if found is None else found[0]

    def collect(self) -> None:
        """Run the ``register_workflows`` hook of every plugin not yet asked for this bus."""
        pm = ensure_hookspec()
        with self._lock:
            done = self._collected.setdefault(pm, set())
            for impl in pm.hook.register_workflows.get_hookimpls():
                if impl.plugin_name in done:
                    continue
                source = f"plugin {impl.plugin_name!r}"

                def register(workflow: Workflow, source: str = source) -> None:
                    self.register(workflow, source=source)

                # Called by hand, per plugin: each plugin's workflows are named after it.
                impl.function(*(register for _ in impl.argnames))
                done.add(impl.plugin_name)

    def get(self, name: str) -> Workflow:
        """Return workflow ``name`` (plugins' hooks collected first); else WorkflowNotFoundError."""
        self.collect()
        with self._lock:
            found = self._workflows.get(name)
            if found is None:
                known = ", ".join(sorted(self._workflows)) or "none"
                raise WorkflowNotFoundError(
                    f"no workflow named {name!r} is registered on this bus (registered: "
                    f"{known}); register it with llmgine_workflows.register_workflow(workflow, "
                    "bus=bus) or a plugin's register_workflows hook"
                )
            return found[0]

    def all(self) -> dict[str, Workflow]:
        """Every workflow by name (plugins' hooks collected first)."""
        self.collect()
        with self._lock:
            return {name: wf for name, (wf, _) in self._workflows.items()}
