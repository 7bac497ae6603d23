"""Who owns a run: two engines sharing one database, dead owners, and old ``host:pid`` rows."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import ResumeWorkflowCommand, StartWorkflowCommand
from llmgine_workflows import RunStore, Workflow, WorkflowRunError, install, register_workflow
from wf_helpers import Act, Recorder, Undo, act_step


def recording_bus(recorder: Recorder, workflow: Workflow) -> MessageBus:
    bus = MessageBus.isolated(strict=True)
    bus.register_command(Act, recorder.act)
    bus.register_command(Undo, recorder.undo)
    register_workflow(workflow, bus=bus)
    return bus


class HeldAtA:
    """Two buses on one run database, running workflow "w" (steps a, b): step ``a``
    waits for :attr:`finish_a` (once :attr:`a_running` is set) the first time it runs."""

    def __init__(self, path: Path) -> None:
        self.calls: list[str] = []
        self.a_running, self.finish_a = asyncio.Event(), asyncio.Event()
        self.buses = [MessageBus.isolated(strict=True) for _ in range(2)]
        for bus in self.buses:
            register_workflow(Workflow("w", [act_step("a", "A"), act_step("b", "B")]), bus=bus)
            bus.register_command(Act, self.act)
            bus.register_command(Undo, lambda command: None)
        self.engines = [install(bus, store=RunStore(path)) for bus in self.buses]

    async def act(self, command: Act) -> Any:
        self.calls.append(command.step)
        if command.step == "a" and not self.finish_a.is_set():
            self.a_running.set()
            await self.finish_a.wait()
        return command.value

    def close(self) -> None:
        for bus in self.buses:
            bus.close()


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_second_engine_on_the_same_database_leaves_a_run_in_flight_alone(
    tmp_path: Path,
) -> None:
    # both engines recorded the owner host:pid, so B listed A's run as interrupted
    # and resumed it: the startup-resume loop of the README ran its steps twice
    held = HeldAtA(tmp_path / "runs.sqlite3")
    (bus_a, bus_b), (engine_a, engine_b) = held.buses, held.engines

    async def main() -> None:
        run = asyncio.create_task(
            bus_a.dispatch_async(StartWorkflowCommand("w", {}, command_id="r"))
        )
        await held.a_running.wait()
        assert engine_b.interrupted() == []
        assert engine_a.interrupted() == []
        with pytest.raises(
            WorkflowRunError, match="run r is being driven by another workflows engine"
        ):
            await bus_b.dispatch_async(ResumeWorkflowCommand("r"))
        held.finish_a.set()
        assert await run == "r"

    asyncio.run(main())
    assert held.calls == ["a", "b"]
    assert engine_b.get_run("r").status == "completed"
    held.close()


def test_each_engine_records_an_owner_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    workflow = Workflow("w", [act_step("a")])
    engines = []
    for run_id in ("r1", "r2"):
        bus = recording_bus(Recorder(), workflow)
        engines.append(install(bus, store=RunStore(path)))
        bus.dispatch(StartWorkflowCommand("w", {}, command_id=run_id))
        bus.close()
    store = RunStore(path)
    first, second = store.get("r1").owner, store.get("r2").owner
    assert first != second
    here = f"{socket.gethostname()}:{os.getpid()}"
    assert [owner.partition("/")[0] for owner in (first, second)] == [here, here]


def test_a_run_of_another_engine_of_this_process_that_stopped_is_resumable(
    tmp_path: Path,
) -> None:
    # engine A's bus closed while its run was in flight: nobody drives the run now,
    # so another engine of the same process may finish it
    path = tmp_path / "runs.sqlite3"
    workflow = Workflow("w", [act_step("a", "A"), act_step("b", "B")])
    a_running, finish_a = asyncio.Event(), asyncio.Event()

    async def hang(command: Act) -> Any:
        a_running.set()
        await finish_a.wait()
        return command.value

    bus_a = MessageBus.isolated(strict=True)
    bus_a.register_command(Act, hang)
    bus_a.register_command(Undo, lambda command: None)
    register_workflow(workflow, bus=bus_a)
    install(bus_a, store=RunStore(path))

    async def main() -> None:
        run = asyncio.create_task(
            bus_a.dispatch_async(StartWorkflowCommand("w", {}, command_id="r"))
        )
        await a_running.wait()
        bus_a.close()
        finish_a.set()
        with pytest.raises(Exception, match="was closed"):
            await run

    asyncio.run(main())
    recorder = Recorder()
    bus_b = recording_bus(recorder, workflow)
    engine_b = install(bus_b, store=RunStore(path))
    assert [run.run_id for run in engine_b.interrupted()] == ["r"]
    bus_b.dispatch(ResumeWorkflowCommand("r"))
    assert [c[1] for c in recorder.calls] == ["a", "b"]
    assert engine_b.get_run("r").status == "completed"
    bus_b.close()


@pytest.mark.parametrize("token", ["", "/0123abcd"], ids=["old row", "new row"])
def test_runs_of_dead_processes_are_resumable_and_of_live_ones_not(
    tmp_path: Path, token: str
) -> None:
    store = RunStore(tmp_path / "runs.sqlite3")
    host = socket.gethostname()
    owners = {
        "dead": f"{host}:{dead_pid()}{token}",
        "live": f"{host}:{os.getppid()}{token}",
        "elsewhere": f"elsewhere.invalid:1{token}",
    }
    for run_id, owner in owners.items():
        store.create_run(run_id, "w", json.dumps({}), ["a", "b"])
        store._write("UPDATE runs SET owner = ? WHERE run_id = ?", (owner, run_id))
    assert [run.run_id for run in store.interrupted()] == ["dead"]
    recorder = Recorder()
    bus = recording_bus(recorder, Workflow("w", [act_step("a"), act_step("b")]))
    engine = install(bus, store=store)
    for run_id in ("live", "elsewhere"):
        with pytest.raises(WorkflowRunError, match="may be alive"):
            bus.dispatch(ResumeWorkflowCommand(run_id))
    bus.dispatch(ResumeWorkflowCommand("dead"))
    assert engine.get_run("dead").status == "completed"
    assert len(recorder.calls) == 2
    bus.close()


@pytest.mark.parametrize("where", ["same bus", "other bus"])
def test_a_redelivered_start_returns_at_once_while_the_run_goes_on(
    tmp_path: Path, where: str
) -> None:
    held = HeldAtA(tmp_path / "runs.sqlite3")
    buses, engine = held.buses, held.engines[0]
    again = buses[0] if where == "same bus" else buses[1]
    command = StartWorkflowCommand("w", {}, command_id="r")

    async def main() -> None:
        first = asyncio.create_task(buses[0].dispatch_async(command))
        await held.a_running.wait()
        assert await again.dispatch_async(command) == "r"  # does not wait for the run
        assert engine.get_run("r").status == "running"
        held.finish_a.set()
        assert await first == "r"

    asyncio.run(main())
    assert held.calls == ["a", "b"]
    assert engine.get_run("r").status == "completed"
    held.close()
