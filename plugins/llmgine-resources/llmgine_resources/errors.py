"""The plugin's errors (public): each is an llmgine ``MessageBusException``."""

from __future__ import annotations

from typing import Any

from llmgine.messages.errors import MessageBusException

__all__ = ["IdempotencyConflict", "ResourceNotFound", "ResourceStoreError"]


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


class ResourceStoreError(MessageBusException, OSError):
    """The SQLite file of the resources cannot be opened: a directory, a missing directory,
    no permission, or a file that is not an SQLite database.

    The message names the file, the problem and what to check. An ``OSError`` too, as
    the plugin raised before this class existed.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # (pickled as its message: the core's rebuild cannot make an OSError)
        return type(self), self.args
