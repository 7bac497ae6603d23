"""The contract between the bus and a transport that carries events to other processes.

A transport plugin (``llmgine-redis``, for example) gives the bus an :class:`Outbox`
with :meth:`MessageBus.attach_outbox <llmgine.messages.bus.MessageBus.attach_outbox>`.
From then on every publish hands its events to the outbox *before* delivering them
locally, as part of the dispatch or emit: if the outbox raises, ``dispatch``/``emit``
raise that error and nothing of that batch is delivered locally. With no outbox
attached the bus pays one attribute check per publish.

What a "batch" is: the events a dispatch queued (or the one event of an ``emit``),
then, generation by generation, the events that subscribers queued in reaction.
Delivery order is unchanged (first in, first out).

On the way in, a consumer hands each received event to
:meth:`MessageBus.deliver <llmgine.messages.bus.MessageBus.deliver>` (or
``deliver_async``), which runs the local subscribers without sending the event
back to the outbox and returns the subscribers that failed, so the consumer can
retry only those (``only=`` their names; subscriber names are unique per bus).
Events those subscribers queue are published as usual (through the outbox). On a
strict bus the failures of ``event``'s own subscribers are returned too, not raised;
a failure on an event they queued still raises ``SubscriberError`` there (and is
reported as usual elsewhere).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ._delivery import Delivery, Failure
    from .events import Event

__all__ = ["Outbox", "Transported"]


@runtime_checkable
class Outbox(Protocol):
    """Receives the events the bus publishes, before local delivery."""

    def send(self, events: Sequence[Event]) -> None:
        """Hand ``events`` over from a synchronous ``dispatch``/``emit``; raise to fail it."""

    async def send_async(self, events: Sequence[Event]) -> None:
        """Hand ``events`` over from ``dispatch_async``/``emit_async``; raise to fail it."""


class Transported:
    """The bus's side of the contract (a part of :class:`~llmgine.messages.bus.MessageBus`)."""

    _delivery: Delivery  # the bus's (see MessageBus._setup)

    def attach_outbox(self, outbox: Outbox) -> None:
        """Hand every event this bus publishes to ``outbox`` first, as part of the publish.

        Raises ``ValueError`` if another outbox is attached: detach it first.
        """
        self._delivery.attach(outbox)

    def detach_outbox(self) -> Outbox | None:
        """Stop handing events to the attached outbox; return it (``None`` if there was none)."""
        return self._delivery.detach()

    @property
    def outbox(self) -> Outbox | None:
        """The attached outbox, if any."""
        return self._delivery.outbox

    def deliver(self, event: Event, only: Collection[str] | None = None) -> list[Failure]:
        """Run the local subscribers of an event that arrived from another process.

        ``event`` itself is not handed to the outbox (no echo); ``only`` limits delivery
        to the subscribers with these names (a retry of those that failed). Returns the
        ``(subscriber, exception)`` pairs of those that failed, even on a strict bus:
        see :mod:`llmgine.messages.transport`. Returns only once the event's background
        subscribers handled it, listing their failures and drops too, except for those
        subscribed ``at_most_once`` (docs/guide/background.md).
        """
        return self._delivery.receive(event, only)

    async def deliver_async(
        self, event: Event, only: Collection[str] | None = None
    ) -> list[Failure]:
        """Like :meth:`deliver`, awaiting ``async def`` subscribers."""
        return await self._delivery.receive_async(event, only)
