"""The hook implementations (the ``resources`` entry point) and the command handlers.

The handlers are plain functions, so both ``dispatch`` and ``dispatch_async`` run
them. Each change queues its event with ``add_pending_event``; the bus publishes
it only if the handler succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
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

__all__ = [
    "handle_create",
    "handle_delete",
    "handle_update",
    "plugin_status",
    "register_commands",
]


def handle_create(command: CreateResourceCommand) -> str:
    """Store a new resource, queue ``ResourceCreatedEvent`` and return the new id."""
    key = command.idempotency_key if isinstance(command, IdempotentCreateResourceCommand) else None
    result = get_store().create(command.resource_type, command.resource_data, idempotency_key=key)
    if result.created:
        message_bus.add_pending_event(
            ResourceCreatedEvent(
                resource_id=result.resource_id,
                resource_type=command.resource_type,
                resource_data=command.resource_data,
            )
        )
    return result.resource_id


def handle_update(command: UpdateResourceCommand) -> None:
    """Replace a resource's data and queue ``ResourceUpdatedEvent``."""
    get_store().update(command.resource_id, command.resource_type, command.resource_data)
    message_bus.add_pending_event(
        ResourceUpdatedEvent(
            resource_id=command.resource_id,
            resource_type=command.resource_type,
            resource_data=command.resource_data,
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
