"""Resuming in-process: what is resumed, what is refused, and runs that died compensating."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path

import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import ResumeWorkflowCommand, StartWorkflowCommand
from llmgine_workflows import (
    RunNotFoundError,
    RunStore,
    Workflow,
    WorkflowError,
    WorkflowRunError,
    install,
    register_workflow,
)
from llmgine_workflows._store import this_owner
from wf_helpers import Act, Recorder, Undo, act_step


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.sqlite3")


def interrupted_run(store: RunStore, run_id: str = "r1", *, owner: str | None = None) -> None:
    """Leave run ``r1`` of workflow ``w`` as a dead process would: step ``a`` done."""
    store.create_run(run_id, "w", json.dumps({"k": 1}), ["a", "b", "c"])
    store.record_step(run_id, 0, "a", json.dumps("A"))
    if owner is not None:
        store._write("UPDATE runs SET owner = ? WHERE run_id = ?", (owner, run_id))


def test_resume_runs_only_the_steps_not_completed(
    bus: MessageBus, recorder: Recorder, store: RunStore
) -> None:
    register_workflow(
        Workflow("w", [act_step("a", "A"), act_step("b", "B"), act_step("c", "C")]), bus=bus
    )
    interrupted_run(store)
    engine = install(bus, store=store)
    assert [run.run_id for run in engine.interrupted()] == ["r1"]

    assert bus.dispatch(ResumeWorkflowCommand("r1")) == "r1"

    assert [c[1] for c in recorder.calls] == ["b", "c"]
    assert recorder.types() == [
        "system.workflows.info",
        "workflow.step_completed",
        "workflow.step_completed",
        "workflow.completed",
    ]
    assert recorder.events[-1].results == {"a": "A", "b": "B", "c": "C"}  # type: ignore[attr-defined]
    assert engine.interrupted() == []
    # resuming a finished run changes nothing
    assert bus.dispatch(ResumeWorkflowCommand("r1")) == "r1"
    assert len(recorder.calls) == 2


def test_a_run_that_died_while_compensating_finishes_compensating(
    bus: MessageBus, recorder: Recorder, store: RunStore
) -> None:
    register_workflow(
        Workflow("w", [act_step("a", "A"), act_step("b", "B"), act_step("c")]), bus=bus
    )
    interrupted_run(store)
    store.record_step("r1", 1, "b", json.dumps("B"))
    store.record_failure("r1", "c", "ValueError", "bad")
    store.record_compensation("r1", 1, None)  # b was undone before the process died
    install(bus, store=store)

    bus.dispatch(ResumeWorkflowCommand("r1"))

    assert recorder.calls == [("undo", "a", "A")]
    failed = recorder.events[-1]
    assert (failed.event_type, failed.step_name, failed.error_type) == (  # type: ignore[attr-defined]
        "workflow.failed",
        "c",
        "ValueError",
    )
    assert store.get("r1").status == "failed"


def test_a_run_owned_by_a_live_process_is_not_taken_over(
    bus: MessageBus, recorder: Recorder, store: RunStore
) -> None:
    register_workflow(Workflow("w", [act_step("a"), act_step("b"), act_step("c")]), bus=bus)
    interrupted_run(store, owner=f"{socket.gethostname()}:{os.getppid()}")
    engine = install(bus, store=store)
    assert engine.interrupted() == []
    with pytest.raises(WorkflowRunError, match=r"owned by process .*may be alive.*--force"):
        bus.dispatch(ResumeWorkflowCommand("r1"))
    assert recorder.calls == []
    # taking it over on purpose (what `llmgine workflows resume --force` does)
    assert engine.store.claim("r1", force=True).owner == this_owner()
    bus.dispatch(ResumeWorkflowCommand("r1"))
    assert [c[1] for c in recorder.calls] == ["b", "c"]


def test_a_run_of_a_changed_workflow_is_not_resumed(
    bus: MessageBus, recorder: Recorder, store: RunStore
) -> None:
    register_workflow(Workflow("w", [act_step("a"), act_step("c")]), bus=bus)
    interrupted_run(store)
    install(bus, store=store)
    with pytest.raises(WorkflowRunError, match=r"started with steps \['a', 'b', 'c'\]"):
        bus.dispatch(ResumeWorkflowCommand("r1"))
    assert recorder.calls == []


def test_an_unknown_run_is_reported(bus: MessageBus, store: RunStore) -> None:
    install(bus, store=store)
    with pytest.raises(RunNotFoundError, match="no workflow run 'nope'"):
        bus.dispatch(ResumeWorkflowCommand("nope"))


def test_runs_of_dead_processes_are_interrupted(store: RunStore) -> None:
    interrupted_run(store, "mine")
    interrupted_run(store, "other-host", owner="elsewhere.invalid:1")
    assert store.get("mine").owner == this_owner()
    assert [run.run_id for run in store.interrupted()] == ["mine"]


def test_a_run_in_flight_when_its_bus_closes_stops_with_a_clear_error_and_stays_resumable(
    tmp_path: Path,
) -> None:
    # it raised sqlite3.ProgrammingError "Cannot operate on a closed database"
    path = tmp_path / "runs.sqlite3"
    bus = MessageBus.isolated(strict=True)
    register_workflow(Workflow("w", [act_step("a", "A"), act_step("b", "B")]), bus=bus)
    step_a_running = asyncio.Event()
    finish_step_a = asyncio.Event()

    async def act(command: Act) -> object:
        step_a_running.set()
        await finish_step_a.wait()
        return command.value

    bus.register_command(Act, act)
    bus.register_command(Undo, lambda command: None)
    install(bus, store=RunStore(path))

    async def main() -> None:
        run = asyncio.create_task(bus.dispatch_async(StartWorkflowCommand("w", {}, command_id="r")))
        await step_a_running.wait()
        bus.close()
        finish_step_a.set()
        with pytest.raises(WorkflowError, match=r"bus .* was closed; a run in flight stops"):
            await run

    asyncio.run(main())
    run = RunStore(path).get("r")
    assert (run.status, run.steps) == ("running", ())  # step a runs again on resume
