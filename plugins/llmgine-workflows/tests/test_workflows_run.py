"""Running workflows: step order, results, events, compensation, and start-time checks."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import attrs
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command, StartWorkflowCommand
from llmgine.messages.errors import AsyncHandlerError
from llmgine.messages.events import (
    SystemEvent,
    WorkflowCompletedEvent,
    WorkflowFailedEvent,
    WorkflowStartedEvent,
    WorkflowStepCompletedEvent,
)
from llmgine_workflows import (
    MissingHandlerError,
    Step,
    Workflow,
    WorkflowEngine,
    WorkflowNotFoundError,
    register_workflow,
)
from wf_helpers import Act, Recorder, Undo, act_step


def chained() -> Workflow:
    """Three steps, each built from the input and the previous step's result."""

    def draft(inp: Mapping[str, Any], res: Mapping[str, Any]) -> Act:
        return Act("draft", f"draft about {inp['topic']}")

    def review(inp: Mapping[str, Any], res: Mapping[str, Any]) -> Act:
        return Act("review", {"reviewed": res["draft"]})

    def publish(inp: Mapping[str, Any], res: Mapping[str, Any]) -> Act:
        return Act("publish", [res["review"]["reviewed"], len(res)])

    return Workflow(
        "article",
        [Step("draft", Act, draft), Step("review", Act, review), Step("publish", Act, publish)],
    )


def test_three_steps_complete_with_events_in_order(
    bus: MessageBus, engine: WorkflowEngine, recorder: Recorder
) -> None:
    register_workflow(chained(), bus=bus)
    command = StartWorkflowCommand("article", {"topic": "owls"})

    run_id = bus.dispatch(command)

    assert run_id == command.command_id
    assert [c[1] for c in recorder.calls] == ["draft", "review", "publish"]
    expected_results = {
        "draft": "draft about owls",
        "review": {"reviewed": "draft about owls"},
        "publish": ["draft about owls", 2],
    }
    events = recorder.events
    assert [type(e) for e in events] == [
        WorkflowStartedEvent,
        WorkflowStepCompletedEvent,
        WorkflowStepCompletedEvent,
        WorkflowStepCompletedEvent,
        WorkflowCompletedEvent,
    ]
    assert all(e.run_id == run_id and e.workflow_name == "article" for e in events)  # type: ignore[attr-defined]
    assert events[0].input == {"topic": "owls"}  # type: ignore[attr-defined]
    steps = [(e.step_name, e.step_index, e.result) for e in events[1:4]]  # type: ignore[attr-defined]
    assert steps == [(name, i, expected_results[name]) for i, name in enumerate(expected_results)]
    assert events[4].results == expected_results  # type: ignore[attr-defined]
    run = engine.get_run(run_id)
    assert run.status == "completed"
    assert run.results == expected_results
    assert all(event.correlation_id == command.command_id for event in events)


def test_step_commands_are_caused_by_the_start_command(bus: MessageBus, engine: object) -> None:
    seen: list[Command[Any]] = []
    bus.unregister_command(Act)
    bus.register_command(Act, lambda command: seen.append(command))
    register_workflow(Workflow("one", [act_step("a", undo=False)]), bus=bus)
    start = StartWorkflowCommand("one", {})
    bus.dispatch(start)
    assert [(c.correlation_id, c.causation_id) for c in seen] == [
        (start.command_id, start.command_id)
    ]


def test_failing_second_step_compensates_the_first_and_emits_failure(
    bus: MessageBus, engine: WorkflowEngine, recorder: Recorder
) -> None:
    register_workflow(
        Workflow("w", [act_step("one", 1), act_step("two", 2), act_step("three")]), bus=bus
    )
    recorder.fail["two"] = ValueError("model refused")

    run_id = bus.dispatch(StartWorkflowCommand("w", {}))

    assert recorder.calls == [("act", "one", 1), ("act", "two", 2), ("undo", "one", 1)]
    assert recorder.types() == ["workflow.started", "workflow.step_completed", "workflow.failed"]
    failed = recorder.events[-1]
    assert isinstance(failed, WorkflowFailedEvent)
    assert (failed.run_id, failed.step_name, failed.error_type, failed.error_message) == (
        run_id,
        "two",
        "ValueError",
        "model refused",
    )
    run = engine.get_run(run_id)
    assert (run.status, run.failed_step) == ("failed", "two")
    assert [(s.name, s.status) for s in run.steps] == [("one", "compensated")]


def test_compensations_run_in_reverse_and_a_failed_one_does_not_stop_the_rest(
    bus: MessageBus, engine: WorkflowEngine, recorder: Recorder
) -> None:
    steps = [act_step("a", "A"), act_step("b", "B", undo=False), act_step("c", "C"), act_step("d")]
    register_workflow(Workflow("w", steps), bus=bus)
    recorder.fail["d"] = RuntimeError("tool crashed")
    recorder.fail_undo["c"] = OSError("disk gone")

    run_id = bus.dispatch(StartWorkflowCommand("w", {}))

    assert [c for c in recorder.calls if c[0] == "undo"] == [("undo", "c", "C"), ("undo", "a", "A")]
    errors = [e for e in recorder.events if isinstance(e, SystemEvent)]
    assert len(errors) == 1
    assert errors[0].event_type == "system.workflows.error"
    assert "step 'c'" in errors[0].message
    assert "disk gone" in errors[0].message
    assert recorder.types()[-1] == "workflow.failed"
    statuses = [(s.name, s.status, s.error) for s in engine.get_run(run_id).steps]
    assert statuses == [
        ("a", "compensated", None),
        ("b", "completed", None),
        ("c", "compensation_failed", "OSError: disk gone"),
    ]


def test_async_dispatch_awaits_async_step_handlers(bus: MessageBus, engine: object) -> None:
    @attrs.frozen
    class Slow(Command[str]):
        text: str

    async def slow(command: Slow) -> str:
        await asyncio.sleep(0)
        return command.text.upper()

    bus.register_command(Slow, slow)
    register_workflow(
        Workflow("w", [Step("s", Slow, lambda i, r: Slow(i["text"])), act_step("after")]), bus=bus
    )

    async def main() -> str:
        return await bus.dispatch_async(StartWorkflowCommand("w", {"text": "hi"}))

    run_id = asyncio.run(main())
    assert engine.get_run(run_id).results == {"s": "HI", "after": None}  # type: ignore[attr-defined]


def test_a_sync_dispatch_inside_an_event_loop_says_to_use_dispatch_async(
    bus: MessageBus, engine: object
) -> None:
    register_workflow(Workflow("w", [act_step("a")]), bus=bus)

    async def main() -> None:
        bus.dispatch(StartWorkflowCommand("w", {}))

    with pytest.raises(AsyncHandlerError, match="dispatch_async"):
        asyncio.run(main())


def test_missing_handler_fails_before_any_step(
    bus: MessageBus, engine: WorkflowEngine, recorder: Recorder
) -> None:
    @attrs.frozen
    class Orphan(Command[None]):
        pass

    register_workflow(
        Workflow("w", [act_step("a"), Step("lost", Orphan, lambda i, r: Orphan())]), bus=bus
    )
    with pytest.raises(
        MissingHandlerError, match=r"no handler on this bus for .*Orphan \(step 'lost'\)"
    ):
        bus.dispatch(StartWorkflowCommand("w", {}))
    assert recorder.calls == []
    assert recorder.events == []
    assert engine.store.runs() == []


def test_unknown_workflow_names_the_registered_ones(bus: MessageBus, engine: object) -> None:
    register_workflow(Workflow("known", [act_step("a")]), bus=bus)
    with pytest.raises(WorkflowNotFoundError, match=r"'nope'.*registered: known"):
        bus.dispatch(StartWorkflowCommand("nope", {}))


def test_input_that_is_not_json_is_refused_at_start(bus: MessageBus, engine: object) -> None:
    register_workflow(Workflow("w", [act_step("a")]), bus=bus)
    with pytest.raises(TypeError, match=r"input of workflow 'w'.*JSON"):
        bus.dispatch(StartWorkflowCommand("w", {"when": object()}))


def test_a_result_that_is_not_json_fails_the_run_and_its_own_step_is_compensated(
    bus: MessageBus, engine: WorkflowEngine, recorder: Recorder
) -> None:
    # step b's handler took effect, but b was marked failed, so its own
    # compensation never ran: only a's did
    register_workflow(
        Workflow("w", [act_step("a", "ok"), act_step("b", {1, 2}), act_step("c", "C")]), bus=bus
    )
    run_id = bus.dispatch(StartWorkflowCommand("w", {}))
    assert recorder.calls == [
        ("act", "a", "ok"),
        ("act", "b", {1, 2}),
        ("undo", "b", {1, 2}),  # the compensation sees the handler's own result
        ("undo", "a", "ok"),
    ]
    run = engine.get_run(run_id)
    assert (run.status, run.failed_step, run.error_type) == ("failed", "b", "TypeError")
    assert "result of step 'b' is {1, 2}, which cannot be stored as JSON" in (
        run.error_message or ""
    )
    # b is stored (its result as null), so a resume after a crash undoes it too
    assert [(s.name, s.status, s.result) for s in run.steps] == [
        ("a", "compensated", "ok"),
        ("b", "compensated", None),
    ]
    failed = recorder.events[-1]
    assert isinstance(failed, WorkflowFailedEvent)
    assert (failed.step_name, failed.error_type) == ("b", "TypeError")
    assert not any(
        isinstance(e, WorkflowStepCompletedEvent) and e.step_name == "b" for e in recorder.events
    )


def test_a_builder_returning_the_wrong_command_fails_its_step(
    bus: MessageBus, engine: WorkflowEngine
) -> None:
    register_workflow(Workflow("w", [Step("a", Act, lambda i, r: Undo("x"))]), bus=bus)
    run = engine.get_run(bus.dispatch(StartWorkflowCommand("w", {})))
    assert run.status == "failed"
    assert "not a Act" in (run.error_message or "")


def test_starting_the_same_command_twice_runs_it_once(
    bus: MessageBus, engine: object, recorder: Recorder
) -> None:
    register_workflow(Workflow("w", [act_step("a")]), bus=bus)
    command = StartWorkflowCommand("w", {})
    assert bus.dispatch(command) == bus.dispatch(command)
    assert recorder.calls == [("act", "a", None)]
