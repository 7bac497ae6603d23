"""The hook implementations (the ``resources`` entry point) and the command handlers.

The handlers are plain functions, so both ``dispatch`` and ``dispatch_async`` run
them. Each change queues its event with ``add_pending_event``; the bus publishes
it only if the handler succeeds.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import llmgine
from llmgine.messages.bus import MessageBus, message_bus
from llmgine.messages.commands import (
    CreateResourceCommand,
    DeleteResourceCommand,
    UpdateResourceCommand,
)
from llmgine.messages.events import (
    ResourceCreatedEvent,
    ResourceDeletedEvent,
    ResourceUpdatedEvent,
)
from llmgine.plugins import PluginStatus, Register, RegisterMessage

from ._commands import IdempotentCreateResourceCommand
from ._state import DB_ENV, ResourcesState, find_state, get_store, state_of
from ._store import ResourceStore

__all__ = [
    "BusHandlers",
    "handle_create",
    "handle_delete",
    "handle_update",
    "plugin_status",
    "register_commands",
    "register_messages",
    "shutdown",
    "startup",
]


def _event_data(
    store: ResourceStore, resource_type: str, data: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``resource_data`` of an event: what the store keeps, as a dict of its own.

    Not the command's dict, which the caller may change after dispatch (and which
    SQLite does not keep as is: a tuple comes back as a list). A store that has no
    ``as_stored`` method (the protocol does not require one) keeps data as given, we
    assume, so a deep copy is what it holds.
    """
    as_stored: Callable[[str, Mapping[str, Any]], dict[str, Any]] | None = getattr(
        store, "as_stored", None
    )
    return copy.deepcopy(dict(data)) if as_stored is None else as_stored(resource_type, data)


def handle_create(command: CreateResourceCommand, bus: MessageBus = message_bus) -> str:
    """Store a new resource in ``bus``'s store, queue ``ResourceCreatedEvent``, return its id."""
    key = command.idempotency_key if isinstance(command, IdempotentCreateResourceCommand) else None
    store = get_store(bus)
    result = store.create(command.resource_type, command.resource_data, idempotency_key=key)
    if result.created:
        bus.add_pending_event(
            ResourceCreatedEvent(
                resource_id=result.resource_id,
                resource_type=command.resource_type,
                resource_data=_event_data(store, command.resource_type, command.resource_data),
            )
        )
    return result.resource_id


def handle_update(command: UpdateResourceCommand, bus: MessageBus = message_bus) -> None:
    """Replace a resource's data in ``bus``'s store and queue ``ResourceUpdatedEvent``."""
    store = get_store(bus)
    store.update(command.resource_id, command.resource_type, command.resource_data)
    bus.add_pending_event(
        ResourceUpdatedEvent(
            resource_id=command.resource_id,
            resource_type=command.resource_type,
            resource_data=_event_data(store, command.resource_type, command.resource_data),
        )
    )


def handle_delete(command: DeleteResourceCommand, bus: MessageBus = message_bus) -> None:
    """Delete a resource from ``bus``'s store and queue ``ResourceDeletedEvent``."""
    get_store(bus).delete(command.resource_id, command.resource_type)
    bus.add_pending_event(
        ResourceDeletedEvent(resource_id=command.resource_id, resource_type=command.resource_type)
    )


class BusHandlers:
    """The three handlers as registered on one bus: each uses that bus's store."""

    __slots__ = ("bus",)

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    def create(self, command: CreateResourceCommand) -> str:
        """:func:`handle_create` on this bus."""
        return handle_create(command, self.bus)

    def update(self, command: UpdateResourceCommand) -> None:
        """:func:`handle_update` on this bus."""
        handle_update(command, self.bus)

    def delete(self, command: DeleteResourceCommand) -> None:
        """:func:`handle_delete` on this bus."""
        handle_delete(command, self.bus)


@llmgine.hookimpl
def register_commands(register: Register, bus: MessageBus) -> None:
    """Handle the three resource commands (``IdempotentCreateResourceCommand`` included)."""
    handlers = BusHandlers(bus)
    register(CreateResourceCommand, handlers.create)
    register(UpdateResourceCommand, handlers.update)
    register(DeleteResourceCommand, handlers.delete)


@llmgine.hookimpl
def register_messages(register: RegisterMessage) -> None:
    """The plugin's own command may cross a transport (the core registers the others)."""
    register(IdempotentCreateResourceCommand)


@llmgine.hookimpl
def startup(bus: MessageBus) -> None:
    """Settle the store for ``bus``: the one ``install`` gave, else ``LLMGINE_RESOURCES_DB``'s."""
    state_of(bus)


@llmgine.hookimpl
def shutdown(bus: MessageBus) -> None:
    """Close a SQLite store the plugin opened for ``bus`` (reopened if the bus starts again)."""
    state = find_state(bus)
    if state is not None:
        state.close()


@llmgine.hookimpl
def plugin_status() -> PluginStatus:
    """Always active (it touches no network); says where ``message_bus``'s resources are kept."""
    state = find_state(message_bus) or ResourcesState.from_env()
    where, persistent = state.describe()
    detail = f"resources kept {where}"
    if not persistent:
        detail += f"; set {DB_ENV}=/path/to/resources.db to keep them in SQLite"
    return PluginStatus(active=True, detail=detail)
