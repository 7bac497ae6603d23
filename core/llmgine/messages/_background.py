"""Background subscribers: each runs off a bounded queue of its own (SKELETON: issue 16's
background helper replaces this module; the interface below is agreed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ._delivery import Delivery
    from ._registry import SubscriberRegistry
    from ._subscribers import MakeBackground

__all__ = ["OVERFLOWS", "BackgroundQueues", "Overflow", "check_foreground"]

#: What a full queue does with the next event: the publisher waits for room
#: (backpressure), the oldest queued event is dropped, or the new one is.
Overflow = Literal["wait", "drop_oldest", "drop_newest"]
OVERFLOWS: tuple[Overflow, ...] = ("wait", "drop_oldest", "drop_newest")


def check_foreground(max_pending: int, overflow: str, at_most_once: bool) -> None:
    """Refuse the background-only options on a subscription that is not ``background``."""
    if max_pending != 1000 or overflow != "wait" or at_most_once:
        raise TypeError(
            "max_pending, overflow and at_most_once apply to background subscribers only: "
            "pass background=True too"
        )


class BackgroundQueues:
    """The background subscribers' queues of one bus."""

    def __init__(self, delivery: Delivery, registry: SubscriberRegistry) -> None:
        self.delivery = delivery
        self.registry = registry

    def make(self, max_pending: int, overflow: Overflow, at_most_once: bool) -> MakeBackground:
        """What turns a subscriber into a background one with these settings."""
        raise NotImplementedError("background subscribers: being built (issue 16)")

    def drain(self) -> None:
        """Wait until every queue is empty and its subscriber idle."""

    async def drain_async(self) -> None:
        """Like :meth:`drain`, awaiting the queues drained on the running loop."""
