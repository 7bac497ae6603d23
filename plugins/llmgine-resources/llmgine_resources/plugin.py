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
from llmgine.messages.bus import message_bus
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
from llmgine.plugins import PluginStatus

from ._commands import IdempotentCreateResourceCommand
from ._config import DB_ENV, get_store, store_description
from ._store import ResourceStore

__all__ = [
    "handle_create",
    "handle_delete",
    "handle_update",
    "plugin_status",
    "register_commands",
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


def handle_create(command: CreateResourceCommand) -> str:
    """Store a new resource, queue ``ResourceCreatedEvent`` and return the new id."""
    key = command.idempotency_key if isinstance(command, IdempotentCreateResourceCommand) else None
    store = get_store()
    result = store.create(command.resource_type, command.resource_data, idempotency_key=key)
    if result.created:
        message_bus.add_pending_event(
            ResourceCreatedEvent(
                resource_id=result.resource_id,
                resource_type=command.resource_type,
                resource_data=_event_data(store, command.resource_type, command.resource_data),
            )
        )
    return result.resource_id


def handle_update(command: UpdateResourceCommand) -> None:
    """Replace a resource's data and queue ``ResourceUpdatedEvent``."""
    store = get_store()
    store.update(command.resource_id, command.resource_type, command.resource_data)
    message_bus.add_pending_event(
        ResourceUpdatedEvent(
            resource_id=command.resource_id,
            resource_type=command.resource_type,
            resource_data=_event_data(store, command.resource_type, command.resource_data),
        )
    )


def handle_delete(command: DeleteResourceCommand) -> None:
    """Delete a resource and queue ``ResourceDeletedEvent``."""
    get_store().delete(command.resource_id, command.resource_type)
    message_bus.add_pending_event(
        ResourceDeletedEvent(resource_id=command.resource_id, resource_type=command.resource_type)
    )


@llmgine.hookimpl
def register_commands(register: Callable[[type, Callable[[Any], Any]], object]) -> None:
    """Handle the three resource commands (``IdempotentCreateResourceCommand`` included)."""
    register(CreateResourceCommand, handle_create)
    register(UpdateResourceCommand, handle_update)
    register(DeleteResourceCommand, handle_delete)


@llmgine.hookimpl
def plugin_status() -> PluginStatus:
    """Always active (it touches no network); says where the resources are kept."""
    where, persistent = store_description()
    detail = f"resources kept {where}"
    if not persistent:
        detail += f"; set {DB_ENV}=/path/to/resources.db to keep them in SQLite"
    return PluginStatus(active=True, detail=detail)
