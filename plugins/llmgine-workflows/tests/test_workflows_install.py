"""install(bus, db=..., store=...): per-bus engines and stores, with register_handlers."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import llmgine_workflows
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import StartWorkflowCommand
from llmgine.plugins import register_handlers
from llmgine_workflows import RunStore, Workflow, engine_for, install, register_workflow
from wf_helpers import Act, Recorder, Undo, act_step


def recording_bus() -> MessageBus:
    """A bus with the Act/Undo handlers and workflow "w" (one step)."""
    recorder = Recorder()
    bus = MessageBus.isolated(strict=True)
    bus.register_command(Act, recorder.act)
    bus.register_command(Undo, recorder.undo)
    register_workflow(Workflow("w", [act_step("a", "A")]), bus=bus)
    return bus


def test_each_bus_keeps_its_runs_in_its_own_database(tmp_path: Path) -> None:
    first, second = recording_bus(), recording_bus()
    install(first, db=tmp_path / "first.db")
    install(second, db=str(tmp_path / "second.db"))
    run_id = first.dispatch(StartWorkflowCommand("w", {}))
    assert RunStore(tmp_path / "first.db").get(run_id).status == "completed"
    assert engine_for(second).store.runs() == []
    first.close()
    other = second.dispatch(StartWorkflowCommand("w", {}))  # closing one leaves the other
    assert engine_for(second).get_run(other).status == "completed"
    second.close()


def test_install_is_idempotent_and_register_handlers_keeps_its_settings(tmp_path: Path) -> None:
    bus = recording_bus()
    engine = install(bus, db=tmp_path / "runs.db")
    register_handlers(bus)
    assert engine_for(bus) is engine
    assert engine.store.path == str(tmp_path / "runs.db")
    run_id = bus.dispatch(StartWorkflowCommand("w", {}))
    assert engine.get_run(run_id).status == "completed"
    bus.close()


def test_install_after_register_handlers_reconfigures_the_bus(tmp_path: Path) -> None:
    bus = recording_bus()
    register_handlers(bus)
    old = engine_for(bus)
    new = install(bus, db=tmp_path / "runs.db")
    assert engine_for(bus) is new is not old
    with pytest.raises(llmgine_workflows.WorkflowError, match="was closed"):
        old.store  # noqa: B018  (the old engine was closed)
    run_id = bus.dispatch(StartWorkflowCommand("w", {}))
    assert RunStore(tmp_path / "runs.db").get(run_id).status == "completed"
    bus.close()


def test_install_refuses_bad_settings_naming_the_setting(tmp_path: Path) -> None:
    bus = MessageBus.isolated()
    with pytest.raises(TypeError, match=r"install\(store=\.\.\.\) needs a RunStore"):
        install(bus, store="runs.db")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"install\(db=\.\.\.\) needs a file path"):
        install(bus, db=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="db= or store=, not both"):
        install(bus, db=tmp_path / "a.db", store=RunStore())


def test_the_old_entry_module_is_a_deprecated_alias() -> None:
    sys.modules.pop("llmgine_workflows._plugin", None)
    with pytest.warns(DeprecationWarning, match=r"llmgine_workflows\.plugin"):
        old = importlib.import_module("llmgine_workflows._plugin")
    from llmgine_workflows import plugin

    assert old.register_commands is plugin.register_commands
    assert old.startup is plugin.startup


def test_status_describes_the_database_install_gave_message_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmgine.messages.bus import message_bus
    from llmgine_workflows import plugin

    monkeypatch.delenv("LLMGINE_WORKFLOWS_DB", raising=False)
    assert "memory" in plugin.plugin_status().detail
    try:
        install(message_bus, db=tmp_path / "runs.db")
        assert str(tmp_path / "runs.db") in plugin.plugin_status().detail
    finally:
        message_bus.close()
        message_bus.reset()
