"""Two isolated buses in one process, each with its own plugin settings, work side by side.

Each has its own resources database, workflows database and audit log, given with
``install(bus, ...)``, and its own workflow definitions; closing one leaves the other
working. (The Redis half, one bus on Redis while the other stays local, is in
llmgine-redis's tests.)
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import llmgine_audit
import llmgine_resources
import llmgine_workflows
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command, CreateResourceCommand, StartWorkflowCommand
from llmgine_workflows import RunStore, Step, Workflow


@attrs.frozen
class Note(Command[str]):
    """A workflow step for this test: its handler answers with the bus's name."""

    text: str


def make_bus(name: str, where: Path) -> MessageBus:
    where.mkdir()
    bus = MessageBus.isolated(strict=True)
    bus.register_command(Note, lambda command: f"{name}: {command.text}")
    llmgine_resources.install(bus, db=where / "resources.db")
    llmgine_workflows.install(bus, db=where / "workflows.db")
    llmgine_workflows.register_workflow(
        Workflow("note", [Step("note", Note, lambda inp, res: Note(inp["text"]))]), bus=bus
    )
    llmgine_audit.install(bus, log=where / "audit.jsonl")
    return bus


def logged(where: Path) -> list[str]:
    lines = (where / "audit.jsonl").read_text().splitlines()
    return [json.loads(line)["event_type"] for line in lines]


def test_two_buses_keep_their_own_resources_runs_and_audit_logs(tmp_path: Path) -> None:
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a, b = make_bus("a", a_dir), make_bus("b", b_dir)

    made = a.dispatch(CreateResourceCommand("doc", {"on": "a"}))
    assert llmgine_resources.get_resource(made, a).data == {"on": "a"}
    with pytest.raises(llmgine_resources.ResourceNotFound):
        llmgine_resources.get_resource(made, b)
    assert llmgine_resources.SqliteResourceStore(b_dir / "resources.db").list() == []

    run_a = a.dispatch(StartWorkflowCommand("note", {"text": "hi"}))
    run_b = b.dispatch(StartWorkflowCommand("note", {"text": "ho"}))
    assert RunStore(a_dir / "workflows.db").get(run_a).results == {"note": "a: hi"}
    assert RunStore(b_dir / "workflows.db").get(run_b).results == {"note": "b: ho"}
    assert [r.run_id for r in RunStore(a_dir / "workflows.db").runs()] == [run_a]

    assert logged(a_dir) == [
        "resource.created",
        "workflow.started",
        "workflow.step_completed",
        "workflow.completed",
    ]
    assert logged(b_dir) == ["workflow.started", "workflow.step_completed", "workflow.completed"]

    a.close()  # closes a's databases and log; b goes on
    other = b.dispatch(CreateResourceCommand("doc", {"on": "b"}))
    run_b2 = b.dispatch(StartWorkflowCommand("note", {"text": "again"}))
    assert llmgine_resources.get_resource(other, b).data == {"on": "b"}
    assert llmgine_workflows.engine_for(b).get_run(run_b2).status == "completed"
    assert logged(b_dir)[-1] == "workflow.completed"
    assert len(logged(a_dir)) == 4
    b.close()
