"""The resource command handlers, on both stores, through sync and async dispatch."""

from __future__ import annotations

import asyncio
from typing import Any

import llmgine_resources
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import (
    CreateResourceCommand,
    DeleteResourceCommand,
    UpdateResourceCommand,
)
from llmgine.messages.errors import MessageBusException
from llmgine.messages.events import (
    Event,
    ResourceCreatedEvent,
    ResourceDeletedEvent,
    ResourceUpdatedEvent,
)
from llmgine_resources import (
    IdempotencyConflict,
    IdempotentCreateResourceCommand,
    ResourceNotFound,
    ResourceStore,
)


def create(bus: MessageBus, data: dict[str, object] | None = None, kind: str = "example") -> str:
    return bus.dispatch(CreateResourceCommand(resource_type=kind, resource_data=data or {"n": 1}))


def test_create_returns_a_new_id_stores_the_data_and_queues_the_created_event(
    bus: MessageBus, events: list[Event], store: ResourceStore
) -> None:
    command = CreateResourceCommand(resource_type="example", resource_data={"name": "Example"})
    resource_id = bus.dispatch(command)
    other_id = create(bus)

    assert isinstance(resource_id, str)
    assert resource_id.startswith("res_")
    assert other_id != resource_id
    stored = llmgine_resources.get_resource(resource_id, bus)
    assert (stored.resource_id, stored.resource_type, dict(stored.data)) == (
        resource_id,
        "example",
        {"name": "Example"},
    )
    assert store.get(resource_id) == stored
    created = events[0]
    assert isinstance(created, ResourceCreatedEvent)
    assert (created.resource_id, created.resource_type, dict(created.resource_data)) == (
        resource_id,
        "example",
        {"name": "Example"},
    )
    assert created.causation_id == command.command_id
    assert [type(e) for e in events] == [ResourceCreatedEvent, ResourceCreatedEvent]


def test_update_replaces_the_data_and_delete_removes_the_resource(
    bus: MessageBus, events: list[Event]
) -> None:
    resource_id = create(bus, {"name": "old", "extra": True})
    bus.dispatch(UpdateResourceCommand(resource_id, "example", {"name": "new"}))
    assert dict(llmgine_resources.get_resource(resource_id, bus).data) == {"name": "new"}

    bus.dispatch(DeleteResourceCommand(resource_id=resource_id, resource_type="example"))
    with pytest.raises(ResourceNotFound, match=resource_id):
        llmgine_resources.get_resource(resource_id, bus)
    updated, deleted = events[1:]
    assert isinstance(updated, ResourceUpdatedEvent)
    assert (updated.resource_id, dict(updated.resource_data)) == (resource_id, {"name": "new"})
    assert isinstance(deleted, ResourceDeletedEvent)
    assert (deleted.resource_id, deleted.resource_type) == (resource_id, "example")


def test_the_handlers_work_with_dispatch_async(bus: MessageBus, events: list[Event]) -> None:
    async def scenario() -> str:
        resource_id = await bus.dispatch_async(
            CreateResourceCommand(resource_type="example", resource_data={"v": 1})
        )
        await bus.dispatch_async(UpdateResourceCommand(resource_id, "example", {"v": 2}))
        assert dict(llmgine_resources.get_resource(resource_id, bus).data) == {"v": 2}
        await bus.dispatch_async(DeleteResourceCommand(resource_id, "example"))
        return resource_id

    resource_id = asyncio.run(scenario())
    assert [(type(e), e.resource_id) for e in events] == [  # type: ignore[attr-defined]
        (ResourceCreatedEvent, resource_id),
        (ResourceUpdatedEvent, resource_id),
        (ResourceDeletedEvent, resource_id),
    ]


@pytest.mark.parametrize(
    "command",
    [
        UpdateResourceCommand(resource_id="res_123", resource_type="example", resource_data={}),
        DeleteResourceCommand(resource_id="res_123", resource_type="example"),
    ],
    ids=["update", "delete"],
)
def test_a_missing_id_raises_resource_not_found_naming_it_and_queues_nothing(
    bus: MessageBus, events: list[Event], command: UpdateResourceCommand | DeleteResourceCommand
) -> None:
    with pytest.raises(ResourceNotFound) as info:
        bus.dispatch(command)
    error = info.value
    assert isinstance(error, LookupError)
    assert isinstance(error, MessageBusException)
    assert (error.resource_id, error.resource_type) == ("res_123", "example")
    assert "'res_123'" in str(error)
    assert "'example'" in str(error)
    assert events == []


def test_a_deleted_resource_is_not_found_by_update_or_a_second_delete(bus: MessageBus) -> None:
    resource_id = create(bus)
    bus.dispatch(DeleteResourceCommand(resource_id, "example"))
    with pytest.raises(ResourceNotFound, match=resource_id):
        bus.dispatch(DeleteResourceCommand(resource_id, "example"))
    with pytest.raises(ResourceNotFound, match=resource_id):
        bus.dispatch(UpdateResourceCommand(resource_id, "example", {}))


def test_an_id_of_another_type_is_not_found_and_left_unchanged(
    bus: MessageBus, events: list[Event]
) -> None:
    resource_id = create(bus, {"name": "a user"}, kind="user")
    with pytest.raises(ResourceNotFound, match="has type 'user', not 'order'") as info:
        bus.dispatch(UpdateResourceCommand(resource_id, "order", {"name": "hijacked"}))
    assert info.value.actual_type == "user"
    with pytest.raises(ResourceNotFound):
        bus.dispatch(DeleteResourceCommand(resource_id, "order"))
    assert dict(llmgine_resources.get_resource(resource_id, bus).data) == {"name": "a user"}
    assert len(events) == 1


def test_get_resource_of_an_unknown_id_raises_resource_not_found(bus: MessageBus) -> None:
    with pytest.raises(ResourceNotFound, match="'res_nope'"):
        llmgine_resources.get_resource("res_nope", bus)


def test_stored_data_is_a_copy_the_caller_cannot_change(bus: MessageBus) -> None:
    data: dict[str, object] = {"tags": ["a"]}
    resource_id = create(bus, data)
    data["tags"].append("b")  # type: ignore[attr-defined]
    data["new"] = 1
    resource = llmgine_resources.get_resource(resource_id, bus)
    assert dict(resource.data) == {"tags": ["a"]}
    with pytest.raises(TypeError):
        resource.data["x"] = 1  # type: ignore[index]


def test_list_returns_resources_of_a_type_oldest_first(
    bus: MessageBus, store: ResourceStore
) -> None:
    first, second = create(bus, {"i": 1}), create(bus, {"i": 2})
    create(bus, kind="other")
    bus.dispatch(UpdateResourceCommand(first, "example", {"i": 10}))
    listed = store.list("example")
    assert [(r.resource_id, dict(r.data)) for r in listed] == [
        (first, {"i": 10}),
        (second, {"i": 2}),
    ]
    assert len(store.list()) == 3


@pytest.mark.parametrize("change", ["create", "update"])
def test_events_carry_the_data_as_stored_not_the_callers_object(
    bus: MessageBus, events: list[Event], change: str
) -> None:
    """A later read and the event agree (SQLite gives a tuple back as a list), and
    changing the command's dict after dispatch changes neither."""
    data: dict[str, Any] = {"tags": ("a", "b"), "nested": {"n": [1]}}
    if change == "create":
        resource_id = bus.dispatch(CreateResourceCommand("example", data))
    else:
        resource_id = create(bus)
        bus.dispatch(UpdateResourceCommand(resource_id, "example", data))
    event = events[-1]
    assert isinstance(event, ResourceCreatedEvent | ResourceUpdatedEvent)
    stored = dict(llmgine_resources.get_resource(resource_id, bus).data)

    data["nested"]["n"].append(2)
    data["new"] = True
    assert event.resource_data == stored
    assert event.resource_data is not data

    # nor can a subscriber change what is stored through the event's copy
    event.resource_data["nested"]["n"].append(3)  # type: ignore[index]
    assert dict(llmgine_resources.get_resource(resource_id, bus).data) == stored


# Idempotent create ---------------------------------------------------------------


def test_a_repeated_idempotency_key_returns_the_first_id_and_queues_no_second_event(
    bus: MessageBus, events: list[Event], store: ResourceStore
) -> None:
    def command(key: str) -> IdempotentCreateResourceCommand:
        return IdempotentCreateResourceCommand(
            resource_type="order", resource_data={"total": 12}, idempotency_key=key
        )

    first = bus.dispatch(command("req-1"))
    again = bus.dispatch(command("req-1"))
    other = bus.dispatch(command("req-2"))

    assert again == first
    assert other != first
    assert [e.resource_id for e in events] == [first, other]  # type: ignore[attr-defined]
    assert len(store.list("order")) == 2


def test_an_idempotency_key_is_remembered_after_the_resource_is_deleted(bus: MessageBus) -> None:
    command = IdempotentCreateResourceCommand("order", {"total": 1}, idempotency_key="k")
    first = bus.dispatch(command)
    bus.dispatch(DeleteResourceCommand(first, "order"))
    assert bus.dispatch(command) == first


@pytest.mark.parametrize(
    ("kind", "data"), [("order", {"total": 99}), ("invoice", {"total": 12})], ids=["data", "type"]
)
def test_reusing_a_key_for_different_data_or_type_is_a_conflict(
    bus: MessageBus, events: list[Event], kind: str, data: dict[str, object]
) -> None:
    first = bus.dispatch(
        IdempotentCreateResourceCommand("order", {"total": 12}, idempotency_key="k")
    )
    with pytest.raises(IdempotencyConflict, match=rf"'k'.*{first}") as info:
        bus.dispatch(IdempotentCreateResourceCommand(kind, data, idempotency_key="k"))
    assert isinstance(info.value, ValueError)
    assert len(events) == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"flag": True}, {"flag": 1}),
        ({"n": 1}, {"n": 1.0}),
        ({"n": 0}, {"n": False}),
        ({"x": 0.0}, {"x": -0.0}),
        ({"items": [1, 1]}, {"items": [1, True]}),
        ({"deep": {"n": 1}}, {"deep": {"n": 1.0}}),
    ],
    ids=["bool-int", "int-float", "int-false", "zero-negative-zero", "in-a-list", "nested"],
)
def test_data_equal_under_python_equality_but_not_the_same_json_is_a_conflict(
    bus: MessageBus, store: ResourceStore, first: dict[str, object], second: dict[str, object]
) -> None:
    """``True == 1 == 1.0``, but a later read tells them apart: another request."""
    first_id = bus.dispatch(IdempotentCreateResourceCommand("order", first, idempotency_key="k"))
    with pytest.raises(IdempotencyConflict, match=first_id):
        bus.dispatch(IdempotentCreateResourceCommand("order", second, idempotency_key="k"))
    assert [r.resource_id for r in store.list()] == [first_id]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"items": (1, "a")}, {"items": [1, "a"]}),
        ({"a": 1, "b": {"x": [0.5], "y": None}}, {"b": {"y": None, "x": (0.5,)}, "a": 1}),
        ({"x": float("nan")}, {"x": float("nan")}),
    ],
    ids=["tuple-list", "key-order", "nan"],
)
def test_the_same_request_may_differ_in_key_order_and_tuple_or_list(
    bus: MessageBus, store: ResourceStore, first: dict[str, object], second: dict[str, object]
) -> None:
    """Both stores agree: JSON has one array type and unordered objects."""
    if isinstance(store, llmgine_resources.SqliteResourceStore) and "x" in first:
        with pytest.raises(TypeError, match="not JSON-serializable"):  # NaN is not JSON
            bus.dispatch(IdempotentCreateResourceCommand("order", first, idempotency_key="k"))
        return
    first_id = bus.dispatch(IdempotentCreateResourceCommand("order", first, idempotency_key="k"))
    again = bus.dispatch(IdempotentCreateResourceCommand("order", second, idempotency_key="k"))
    assert again == first_id
    assert len(store.list()) == 1


@pytest.mark.parametrize("key", ["", None, 5])
def test_an_idempotency_key_must_be_a_non_empty_string(key: object) -> None:
    with pytest.raises(TypeError, match="idempotency_key must be a non-empty str"):
        IdempotentCreateResourceCommand("order", {}, idempotency_key=key)  # type: ignore[arg-type]


def test_a_plain_create_with_the_same_data_always_creates(bus: MessageBus) -> None:
    assert create(bus, {"same": 1}) != create(bus, {"same": 1})


@pytest.mark.parametrize(
    "error",
    [
        llmgine_resources.ResourceNotFound("r1", "doc"),
        llmgine_resources.ResourceNotFound("r1", "doc", actual_type="image"),
        llmgine_resources.IdempotencyConflict("key-1", "r1", "doc"),
    ],
    ids=str,
)
def test_the_plugins_errors_pickle_with_their_attributes(error: Exception) -> None:
    """A process pool's worker sends an exception back pickled (cls(*args) failed)."""
    import pickle

    twin = pickle.loads(pickle.dumps(error))
    assert type(twin) is type(error)
    assert str(twin) == str(error)
    assert vars(twin) == vars(error)
