"""Bad workflow definitions fail when built or registered, with errors naming the fault."""

from __future__ import annotations

from typing import Any

import pytest
from llmgine.messages.bus import MessageBus
from llmgine_workflows import (
    Step,
    Workflow,
    WorkflowDefinitionError,
    get_workflow,
    register_workflow,
    registered_workflows,
    unregister_workflow,
)
from wf_helpers import Act, Undo, act_step


def build(inp: Any, res: Any) -> Act:
    return Act("x")


def test_a_workflow_without_steps_is_refused() -> None:
    with pytest.raises(WorkflowDefinitionError, match="workflow 'empty' has no steps"):
        Workflow("empty", [])


def test_duplicate_step_names_are_refused() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"two steps named 'a'.*unique"):
        Workflow("w", [act_step("a"), act_step("b"), act_step("a")])


def test_duplicate_workflow_names_are_refused_naming_both_sources(bus: MessageBus) -> None:
    register_workflow(Workflow("w", [act_step("a")]), source="plugin 'first'", bus=bus)
    with pytest.raises(
        WorkflowDefinitionError, match=r"'w' from plugin 'second' clashes .* from plugin 'first'"
    ):
        register_workflow(Workflow("w", [act_step("b")]), source="plugin 'second'", bus=bus)
    assert get_workflow("w", bus).step_names == ("a",)


def test_registering_the_same_definition_again_is_harmless(bus: MessageBus) -> None:
    workflow = Workflow("w", [Step("a", Act, build)])
    register_workflow(workflow, bus=bus)
    register_workflow(Workflow("w", [Step("a", Act, build)]), bus=bus)
    assert registered_workflows(bus) == {"w": workflow}


def test_definitions_are_per_bus_and_can_be_unregistered(bus: MessageBus) -> None:
    other = MessageBus.isolated()
    workflow = Workflow("w", [Step("a", Act, build)])
    register_workflow(workflow, bus=bus)
    register_workflow(Workflow("w", [act_step("b")]), bus=other)  # no clash: another bus
    assert get_workflow("w", bus) is workflow
    assert unregister_workflow("w", bus=bus) is workflow
    assert unregister_workflow("w", bus=bus) is None
    assert registered_workflows(bus) == {}
    assert get_workflow("w", other).step_names == ("b",)


@pytest.mark.parametrize("command", [dict, "Act", Act("x"), None])
def test_a_step_command_must_be_a_command_class(command: Any) -> None:
    with pytest.raises(
        WorkflowDefinitionError, match="step 'a': command must be a Command subclass"
    ):
        Step("a", command, build)


@pytest.mark.parametrize("builder", [None, "build", Act("x")])
def test_a_builder_must_be_callable(builder: Any) -> None:
    with pytest.raises(WorkflowDefinitionError, match="step 'a': build must be callable"):
        Step("a", Act, builder)


def test_a_builder_must_take_input_and_results() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"step 'a': build .*two positional"):
        Step("a", Act, lambda inp: Act("x"))  # type: ignore[arg-type,misc]


def test_a_compensation_needs_both_builder_and_command_type() -> None:
    with pytest.raises(WorkflowDefinitionError, match="no compensation command type"):
        Step("a", Act, build, compensate=lambda i, r: Undo("a"))
    with pytest.raises(WorkflowDefinitionError, match="no compensate builder"):
        Step("a", Act, build, compensation=Undo)
    with pytest.raises(WorkflowDefinitionError, match="compensate must be callable"):
        Step("a", Act, build, compensate=3, compensation=Undo)  # type: ignore[arg-type]
    with pytest.raises(WorkflowDefinitionError, match="compensation must be a Command subclass"):
        Step("a", Act, build, compensate=build, compensation=int)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "  ", None, 3])
def test_names_must_be_non_empty_strings(name: Any) -> None:
    with pytest.raises(WorkflowDefinitionError, match="step's name must be a non-empty string"):
        Step(name, Act, build)
    with pytest.raises(WorkflowDefinitionError, match="workflow's name must be a non-empty"):
        Workflow(name, [act_step("a")])


def test_steps_must_be_steps() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"item 1 of its steps is .*not a Step"):
        Workflow("w", [act_step("a"), Act])  # type: ignore[list-item]
    with pytest.raises(WorkflowDefinitionError, match="must be a list of Step"):
        Workflow("w", "abc")  # type: ignore[arg-type]


def test_only_workflows_can_be_registered(bus: MessageBus) -> None:
    with pytest.raises(WorkflowDefinitionError, match="not a Workflow"):
        register_workflow({"name": "w"}, bus=bus)  # type: ignore[arg-type]
