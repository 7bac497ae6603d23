"""The plugin's errors (public): both are llmgine ``MessageBusException``s."""

from __future__ import annotations

from llmgine.messages.errors import MessageBusException

__all__ = ["IdempotencyConflict", "ResourceNotFound"]


class ResourceNotFound(MessageBusException, LookupError):
    """No resource ``resource_id`` of type ``resource_type`` exists (never created, or deleted).

    ``actual_type`` is set when a resource with that id exists but has another type.
    """

    def __init__(
        self, resource_id: str, resource_type: str | None = None, *, actual_type: str | None = None
    ) -> None:
        self.resource_id = resource_id
        self.resource_type = resource_type
        self.actual_type = actual_type
        of_type = f" of type {resource_type!r}" if resource_type is not None else ""
        if actual_type is not None:
            why = f"resource {resource_id!r} has type {actual_type!r}, not {resource_type!r}"
        else:
            why = (
                f"no resource {resource_id!r}{of_type} exists: it was never created or has "
                "been deleted; use the id that CreateResourceCommand returned"
            )
        super().__init__(why)


class IdempotencyConflict(MessageBusException, ValueError):
    """An idempotency key was reused for a create with a different type or different data.

    A key stands for one request; reusing it for another is almost always a bug
    (two callers sharing a key), so the store refuses instead of returning the
    first resource's id for data it never stored.
    """

    def __init__(self, key: str, resource_id: str, resource_type: str) -> None:
        self.key = key
        self.resource_id = resource_id
        super().__init__(
            f"idempotency key {key!r} was first used to create resource {resource_id!r} of "
            f"type {resource_type!r} with other data; use a new key for a different resource"
        )
