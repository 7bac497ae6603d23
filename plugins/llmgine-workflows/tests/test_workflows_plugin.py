"""The plugin: its optional ``register_workflows`` hook, loading, and status."""

from __future__ import annotations

import types
from typing import Any

import llmgine
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import StartWorkflowCommand
from llmgine.plugins import (
    PluginHost,
    PluginLoadError,
    get_plugin_manager,
    load_plugins,
    register_handlers,
    register_plugin,
    use_plugin_host,
)
from llmgine_workflows import (
    Workflow,
    WorkflowDefinitionError,
    WorkflowError,
    _registry,
    engine_for,
    get_workflow,
)
from wf_helpers import Act, Recorder, Undo, act_step

pytestmark = pytest.mark.usefixtures("fresh_plugins")


def workflow_plugin(name: str, *, optional: bool = True) -> types.SimpleNamespace:
    """A plugin object that handles Act and declares one workflow."""
    recorder = Recorder()

    @llmgine.hookimpl
    def register_commands(register: Any) -> None:
        register(Act, recorder.act)
        register(Undo, recorder.undo)

    @llmgine.hookimpl(optionalhook=optional)
    def register_workflows(register: Any) -> None:
        register(Workflow(name, [act_step("one", 1), act_step("two", 2)]))

    return types.SimpleNamespace(
        register_commands=register_commands,
        register_workflows=register_workflows,
        recorder=recorder,
    )


def test_an_optional_register_workflows_loads_without_this_plugin() -> None:
    with use_plugin_host(PluginHost()):  # a host that has never seen llmgine-workflows
        assert getattr(get_plugin_manager().hook, "register_workflows", None) is None
        assert register_plugin(workflow_plugin("w"), "declarer") == "declarer"


def test_a_non_optional_register_workflows_without_this_plugin_is_an_unknown_hook() -> None:
    unknown = r"unknown hook 'register_workflows'.*optionalhook"
    # a host that has never seen llmgine-workflows
    with use_plugin_host(PluginHost()), pytest.raises(PluginLoadError, match=unknown):
        register_plugin(workflow_plugin("w", optional=False), "declarer")


def test_hook_register_workflows_declares_workflows_that_run_on_the_bus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plugin = workflow_plugin("from-plugin")
    register_plugin(plugin, "declarer")
    infos = {info.name: info for info in load_plugins()}
    assert "register_workflows" not in infos["workflows"].hooks  # we add the spec, not an impl
    bus = MessageBus.isolated(strict=True)
    register_handlers(bus)
    events: list[str] = []
    bus.subscribe_event("workflow.*", lambda e: events.append(e.event_type))

    run_id = bus.dispatch(StartWorkflowCommand("from-plugin", {}))

    assert engine_for(bus).get_run(run_id).results == {"one": 1, "two": 2}
    assert [c[1] for c in plugin.recorder.calls] == ["one", "two"]
    assert events[0] == "workflow.started"
    assert events[-1] == "workflow.completed"
    bus.close()


def test_each_bus_gets_its_own_engine() -> None:
    register_plugin(workflow_plugin("w"), "declarer")
    first, second = MessageBus.isolated(), MessageBus.isolated()
    register_handlers(first)
    register_handlers(second)
    run_id = first.dispatch(StartWorkflowCommand("w", {}))
    assert engine_for(first).get_run(run_id).status == "completed"
    assert engine_for(first) is not engine_for(second)
    assert engine_for(second).store.runs() == []


def test_a_bus_started_again_after_close_runs_workflows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # close() leaves the handlers registered; register_handlers() starts the plugins
    # again, and the engine must reopen its store (it raised "closed database")
    monkeypatch.setenv("LLMGINE_WORKFLOWS_DB", str(tmp_path / "runs.db"))
    register_plugin(workflow_plugin("w"), "declarer")
    bus = MessageBus.isolated(strict=True)
    register_handlers(bus)
    first = bus.dispatch(StartWorkflowCommand("w", {}))
    bus.close()
    with pytest.raises(WorkflowError, match=r"was closed.*register_handlers"):
        engine_for(bus).get_run(first)

    register_handlers(bus)
    second = bus.dispatch(StartWorkflowCommand("w", {}))

    assert engine_for(bus).get_run(second).status == "completed"
    assert engine_for(bus).get_run(first).status == "completed"  # same file, reopened
    bus.close()


def test_two_plugins_declaring_the_same_workflow_name_is_an_error_naming_both() -> None:
    register_plugin(workflow_plugin("same"), "first")
    register_plugin(workflow_plugin("same"), "second")
    with pytest.raises(
        WorkflowDefinitionError, match=r"'same' from plugin '.*' clashes .*plugin '"
    ):
        get_workflow("same", MessageBus.isolated())


def test_status_says_how_to_persist_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    infos = {info.name: info for info in load_plugins()}
    status = infos["workflows"].status
    assert status is not None
    assert status.active
    assert "memory" in status.detail
    assert "LLMGINE_WORKFLOWS_DB" in (status.activate or "")
    monkeypatch.setenv("LLMGINE_WORKFLOWS_DB", str(tmp_path / "runs.db"))
    with use_plugin_host(PluginHost()):  # loaded anew, under the new environment
        _registry.ensure_hookspec()
        status = {info.name: info for info in load_plugins()}["workflows"].status
    assert status is not None
    assert str(tmp_path / "runs.db") in status.detail
    assert not (tmp_path / "runs.db").exists()  # nothing is written until a bus starts it
