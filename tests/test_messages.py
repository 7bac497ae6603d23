"""Commands and events: construction, ids, validation, user subclasses, type names."""

from __future__ import annotations

import dataclasses
import pickle
import time
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest
from llmgine.messages import InvalidPatternError
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import (
    Command,
    CreateResourceCommand,
    DeleteResourceCommand,
    ResumeWorkflowCommand,
    StartWorkflowCommand,
    UpdateResourceCommand,
)
from llmgine.messages.events import (
    Event,
    ResourceCreatedEvent,
    ResourceDeletedEvent,
    ResourceEvent,
    ResourceUpdatedEvent,
    SystemEvent,
    WorkflowCompletedEvent,
    WorkflowFailedEvent,
    WorkflowStartedEvent,
    WorkflowStepCompletedEvent,
)


@dataclasses.dataclass
class CustomCommand(Command[bool]):
    parameter: str


@dataclasses.dataclass(frozen=True)
class FrozenDataclassEvent(Event):
    value: int


@attrs.define
class AttrsCommand(Command[int]):
    amount: int


@attrs.frozen
class AttrsEvent(Event):
    event_type = "custom.attrs"
    name: str


class PlainEvent(Event):
    """No event_type of its own and no base that sets one."""


class SubOfResourceCreated(ResourceCreatedEvent):
    """Inherits "resource.created" from its base."""


def test_core_commands_construct_with_their_fields() -> None:
    create = CreateResourceCommand(resource_type="doc", resource_data={"a": 1})
    update = UpdateResourceCommand(resource_id="r1", resource_type="doc", resource_data={})
    delete = DeleteResourceCommand(resource_id="r1", resource_type="doc")
    start = StartWorkflowCommand(workflow_name="wf")
    resume = ResumeWorkflowCommand(run_id="run1")
    assert (create.resource_type, dict(create.resource_data)) == ("doc", {"a": 1})
    assert (update.resource_id, delete.resource_id) == ("r1", "r1")
    assert start.workflow_name == "wf"
    assert dict(start.input) == {}
    assert resume.run_id == "run1"
    for command in (create, update, delete, start, resume):
        assert isinstance(command.command_id, str)
        assert command.command_id
        assert command.correlation_id is None
        assert command.causation_id is None


def test_core_events_construct_with_aware_utc_timestamps() -> None:
    before = datetime.now(UTC)
    events: list[Event] = [
        ResourceCreatedEvent(resource_id="r", resource_type="doc", resource_data={"x": 1}),
        ResourceUpdatedEvent(resource_id="r", resource_type="doc"),
        ResourceDeletedEvent(resource_id="r", resource_type="doc"),
        WorkflowStartedEvent(workflow_name="wf", run_id="run"),
        WorkflowStepCompletedEvent(workflow_name="wf", run_id="run", step_name="s", step_index=0),
        WorkflowCompletedEvent(workflow_name="wf", run_id="run", results={"s": 1}),
        WorkflowFailedEvent(
            workflow_name="wf", run_id="run", step_name="s", error_type="E", error_message="m"
        ),
    ]
    after = datetime.now(UTC)
    for event in events:
        assert event.timestamp.tzinfo is not None
        assert event.timestamp.utcoffset() == timedelta(0)
        assert before <= event.timestamp <= after
        assert event.event_id


def test_event_types_of_the_core_hierarchy() -> None:
    assert ResourceCreatedEvent.event_type == "resource.created"
    assert ResourceUpdatedEvent.event_type == "resource.updated"
    assert ResourceDeletedEvent.event_type == "resource.deleted"
    assert WorkflowStartedEvent.event_type == "workflow.started"
    assert WorkflowStepCompletedEvent.event_type == "workflow.step_completed"
    assert WorkflowCompletedEvent.event_type == "workflow.completed"
    assert WorkflowFailedEvent.event_type == "workflow.failed"
    assert issubclass(ResourceCreatedEvent, ResourceEvent)


def test_ids_are_unique_per_instance() -> None:
    commands = [CreateResourceCommand(resource_type="t", resource_data={}) for _ in range(500)]
    events = [ResourceDeletedEvent(resource_id="r", resource_type="t") for _ in range(500)]
    ids = {c.command_id for c in commands} | {e.event_id for e in events}
    assert len(ids) == 1000


def test_explicit_ids_are_kept() -> None:
    command = CreateResourceCommand(
        resource_type="t",
        resource_data={},
        command_id="cmd-1",
        correlation_id="corr-1",
        causation_id="cause-1",
    )
    assert (command.command_id, command.correlation_id, command.causation_id) == (
        "cmd-1",
        "corr-1",
        "cause-1",
    )
    stamp = datetime(2024, 5, 1, tzinfo=timezone(timedelta(hours=2)))
    event = ResourceDeletedEvent(
        resource_id="r", resource_type="t", event_id="ev-1", timestamp=stamp
    )
    assert (event.event_id, event.timestamp) == ("ev-1", stamp)


def test_core_messages_are_frozen() -> None:
    command = DeleteResourceCommand(resource_id="r", resource_type="t")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        command.resource_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("build", "error", "words"),
    [
        (lambda: CreateResourceCommand(resource_type="", resource_data={}), ValueError, "empty"),
        (lambda: CreateResourceCommand(resource_type=3, resource_data={}), TypeError, "str"),
        (lambda: CreateResourceCommand(resource_type="t", resource_data=[1]), TypeError, "mapping"),
        (
            lambda: UpdateResourceCommand(resource_id="", resource_type="t", resource_data={}),
            ValueError,
            "resource_id",
        ),
        (lambda: StartWorkflowCommand(workflow_name=None), TypeError, "workflow_name"),
        (
            lambda: CreateResourceCommand(resource_type="t", resource_data={}, command_id=""),
            ValueError,
            "command_id",
        ),
        (
            lambda: ResourceDeletedEvent(
                resource_id="r", resource_type="t", timestamp=datetime.now()
            ),
            TypeError,
            "timezone-aware",
        ),
        (
            lambda: WorkflowStepCompletedEvent(
                workflow_name="w", run_id="r", step_name="s", step_index="0"
            ),
            TypeError,
            "step_index",
        ),
        (
            lambda: SystemEvent(component="bus", severity="fatal", message="m"),
            ValueError,
            "severity",
        ),
        (
            lambda: SystemEvent(component="a.b", severity="info", message="m"),
            ValueError,
            "component",
        ),
        (lambda: SystemEvent(component="", severity="info", message="m"), ValueError, "component"),
    ],
)
def test_bad_fields_raise_naming_class_and_field(build, error, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=words):
        build()


def test_validation_error_names_the_class() -> None:
    with pytest.raises(ValueError, match=r"CreateResourceCommand\.resource_type must not be empty"):
        CreateResourceCommand(resource_type="", resource_data={})


def test_dataclass_command_subclass_gets_ids_and_dispatches(bus: MessageBus) -> None:
    bus.register_command(CustomCommand, lambda c: c.parameter == "yes")
    command = CustomCommand(parameter="yes")
    assert command.command_id
    assert command.parameter == "yes"
    assert bus.dispatch(command) is True
    assert command.correlation_id == command.command_id


def test_frozen_dataclass_event_subclass_gets_ids_and_timestamp(bus: MessageBus) -> None:
    event = FrozenDataclassEvent(value=3)
    assert event.event_id
    assert event.timestamp.tzinfo is not None
    assert event.event_type == "FrozenDataclassEvent"
    seen: list[int] = []
    bus.subscribe_event(FrozenDataclassEvent, lambda e: seen.append(e.value))
    bus.emit(event)
    assert seen == [3]
    assert event.correlation_id == event.event_id


def test_attrs_subclasses_work(bus: MessageBus) -> None:
    command = AttrsCommand(amount=2)
    event = AttrsEvent(name="n")
    assert command.command_id
    assert event.event_id
    assert event.event_type == "custom.attrs"
    received: list[AttrsEvent] = []
    bus.subscribe_event("custom.attrs", received.append)

    def handle(c: AttrsCommand) -> int:
        bus.add_pending_event(AttrsEvent(name=str(c.amount)))
        return c.amount * 10

    bus.register_command(AttrsCommand, handle)
    assert bus.dispatch(command) == 20
    assert [e.name for e in received] == ["2"]


def test_default_event_type_is_the_class_name() -> None:
    assert PlainEvent.event_type == "PlainEvent"
    assert PlainEvent().event_type == "PlainEvent"


def test_event_type_is_inherited_from_the_nearest_base_that_sets_one() -> None:
    assert SubOfResourceCreated.event_type == "resource.created"


def test_invalid_declared_event_type_fails_at_class_creation() -> None:
    with pytest.raises(InvalidPatternError, match=r"Bad\.event_type"):

        class Bad(Event):
            event_type = "a..b"

    with pytest.raises(InvalidPatternError, match="may not contain"):

        class Starred(Event):
            event_type = "a.*"


def test_system_event_type_depends_on_the_instance() -> None:
    error = SystemEvent(component="bus", severity="error", message="boom")
    info = SystemEvent(component="redis", severity="info", message="up", details={"k": 1})
    assert error.event_type == "system.bus.error"
    assert info.event_type == "system.redis.info"
    assert dict(info.details) == {"k": 1}
    for severity in ("debug", "info", "warning", "error", "critical"):
        assert SystemEvent(component="c", severity=severity, message="").event_type == (
            f"system.c.{severity}"
        )


def test_system_event_type_cannot_be_passed() -> None:
    with pytest.raises(TypeError):
        SystemEvent(component="c", severity="info", message="m", event_type="x")  # type: ignore[call-arg]


def test_core_messages_stay_in_sets_once_published() -> None:
    """The bus stamps correlation and causation on publishing: a core message's hash must not
    change then (it did: a set or dict no longer found the message)."""
    bus = MessageBus()
    bus.register_command(DeleteResourceCommand, lambda command: None)
    event = ResourceDeletedEvent(resource_id="r", resource_type="t")
    command = DeleteResourceCommand(resource_id="r", resource_type="t")
    seen: set[object] = {event, command}
    bus.emit(event)
    bus.dispatch(command)
    assert event.correlation_id is not None
    assert command.correlation_id is not None
    assert event in seen
    assert command in seen


def test_core_messages_equal_whatever_their_links() -> None:
    event = ResourceDeletedEvent(resource_id="r", resource_type="t")
    twin = attrs.evolve(event, correlation_id="elsewhere", causation_id="cause")
    assert twin == event
    assert hash(twin) == hash(event)
    assert attrs.evolve(event, resource_id="s") != event


def test_core_messages_pickle_with_their_ids() -> None:
    command = CreateResourceCommand(resource_type="t", resource_data={"a": 1})
    event = SystemEvent(component="c", severity="info", message="m")
    command2 = pickle.loads(pickle.dumps(command))
    event2 = pickle.loads(pickle.dumps(event))
    assert command2 == command
    assert command2.command_id == command.command_id
    assert (event2.event_id, event2.timestamp, event2.event_type) == (
        event.event_id,
        event.timestamp,
        "system.c.info",
    )


def test_dataclass_messages_pickle_with_their_ids() -> None:
    command = CustomCommand(parameter="p")
    copy = pickle.loads(pickle.dumps(command))
    assert (copy.command_id, copy.parameter) == (command.command_id, "p")


def test_a_timestamp_read_late_is_still_the_creation_time() -> None:
    """The clock is read when the event is made, even if the datetime is built later."""
    before = datetime.now(UTC)
    event = PlainEvent()
    after = datetime.now(UTC)
    time.sleep(0.01)
    stamp = event.timestamp
    assert isinstance(stamp, datetime)
    assert stamp.tzinfo is not None
    assert before - timedelta(microseconds=1) <= stamp <= after
    assert event.timestamp is stamp
