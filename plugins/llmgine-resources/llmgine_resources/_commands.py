"""The one command this plugin adds: a create that is safe to retry."""

from __future__ import annotations

from typing import Any

import attrs
from llmgine.messages.commands import CreateResourceCommand

__all__ = ["IdempotentCreateResourceCommand"]


def _key(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise TypeError(
            f"IdempotentCreateResourceCommand.idempotency_key must be a non-empty str, "
            f"got {value!r}"
        )


@attrs.frozen
class IdempotentCreateResourceCommand(CreateResourceCommand):
    """A :class:`CreateResourceCommand` that is safe to retry.

    The first dispatch with a given ``idempotency_key`` creates the resource and
    returns its id; every later one returns that same id and queues no event.
    Reusing a key with another type or other data raises ``IdempotencyConflict``.
    Being a ``CreateResourceCommand``, it goes to the same handler.
    """

    idempotency_key: str = attrs.field(kw_only=True, validator=_key)
