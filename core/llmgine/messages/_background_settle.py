"""Waiting for a background queue to settle: what ``drain()`` does with each busy queue.

A queue is settled when it holds no event, none is being handled and no publisher
waits for room. Queued events that cannot be handled now (an async subscriber's
event loop is not running) make ``drain()`` raise :class:`BackgroundError` naming
them, rather than wait for ever; those of a removed subscription whose loop has
closed, which nothing can ever run, are discarded (logged) instead, so that they do
not fail every later ``drain()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._background_queue import LOOP_CLOSED
from ._background_reports import discarded
from ._receipts import wakes
from .errors import BackgroundError

if TYPE_CHECKING:
    import asyncio

    from ._background_queue import BackgroundQueue, Item

__all__ = ["wait_settled", "wait_settled_async"]


def wait_settled(queue: BackgroundQueue) -> None:
    """Block until ``queue`` is settled; raise if it cannot settle (see ``stalled()``)."""
    while True:
        with queue.lock:
            if queue.is_settled():
                return
            stuck = unstick_locked(queue)
            if stuck is None:
                check_stalled(queue)
                queue.settled.wait(queue.recheck)
                continue
        discarded(queue, stuck, LOOP_CLOSED)


async def wait_settled_async(queue: BackgroundQueue, loop: asyncio.AbstractEventLoop) -> None:
    """Like :func:`wait_settled`, awaiting on ``loop``."""
    import asyncio

    while True:
        with queue.lock:
            if queue.is_settled():
                return
            stuck = unstick_locked(queue)
            if stuck is None:
                check_stalled(queue)
                waiter: asyncio.Future[None] = loop.create_future()
                queue.watchers.append(wakes(loop, waiter))
        if stuck is None:
            await asyncio.wait((waiter,), timeout=queue.recheck)
        else:
            discarded(queue, stuck, LOOP_CLOSED)


def unstick_locked(queue: BackgroundQueue) -> list[Item] | None:
    """The events of a removed subscription's queue that nothing can handle any more,
    taken off it (its lock held), for :func:`discarded`; ``None`` for any other queue."""
    if queue.active or not queue.dead():
        return None
    return queue.discard_locked()


def check_stalled(queue: BackgroundQueue) -> None:
    """Raise :class:`BackgroundError` if the queued events cannot be handled (lock held)."""
    why = queue.stalled()
    if why is not None:
        raise BackgroundError(
            f"background subscriber {queue.name} has {len(queue.items)} event(s) queued that "
            f"cannot be handled: {why}"
        )
