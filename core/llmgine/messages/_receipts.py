"""Delivering an event from a transport, and waiting for its background subscribers.

A consumer acknowledges an event once ``bus.deliver(event)`` returns no failures, so
``deliver`` must not return before the event's background subscribers handled it
(at least once must not silently become at most once). While ``deliver`` runs the
event's subscribers it makes a :class:`Receiving` current (a ``contextvars`` value);
each background queue that takes the event gives it a :class:`Receipt`, finished
when its subscriber has handled the event (or the queue dropped it), and ``deliver``
then waits for every receipt and lists the failed ones among its failures. A
subscription made with ``at_most_once=True`` gives no receipt.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Container
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ._async_delivery import deliver_async
from ._delivery import DIRECT, Entry, Failure
from ._scope import get_scope
from .errors import SubscriberError
from .events import Event

if TYPE_CHECKING:
    import asyncio

    from ._delivery import Delivery
    from ._subscribers import Subscriber

__all__ = [
    "Receipt",
    "Receiving",
    "receive",
    "receive_async",
    "receiving",
    "wait_for_receipts",
    "wait_for_receipts_async",
]

# One lock for every receipt: each holds it for a few attribute writes only.
_lock = threading.Lock()


class Receipt:
    """One background subscriber's handling of one received event."""

    __slots__ = ("callbacks", "done", "error", "subscriber")

    def __init__(self, subscriber: Subscriber) -> None:
        #: the background subscriber (its name is what a retry passes as ``only=``)
        self.subscriber = subscriber
        #: its failure (or the drop), once done; ``None``: it handled the event
        self.error: Exception | None = None
        self.done = False
        self.callbacks: list[Callable[[], Any]] = []

    def finish(self, error: Exception | None) -> None:
        """The subscriber is done with the event (``error``: how it failed). Once only."""
        with _lock:
            if self.done:
                return
            self.error, self.done = error, True
            callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            callback()

    def then(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` once the receipt is finished (now, if it is already)."""
        with _lock:
            if not self.done:
                self.callbacks.append(callback)
                return
        callback()


class Receiving:
    """The transport delivery in progress in this context: its event, and the receipts
    of the background queues that took it. ``sync``: the delivery waits by blocking
    (``deliver``), not by awaiting (``deliver_async``)."""

    __slots__ = ("event", "open", "receipts", "sync")

    def __init__(self, event: Event, sync: bool) -> None:
        self.event = event
        self.sync = sync
        #: False once the event's own subscribers have run: later puts (of events they
        #: caused, or from contexts copied from it) take no receipt
        self.open = True
        self.receipts: list[Receipt] = []

    def expects(self, event: Event) -> bool:
        """Whether a background queue taking ``event`` now must give a receipt."""
        return self.open and event is self.event


#: The transport delivery of the current context, if any (see the module docstring).
receiving: ContextVar[Receiving | None] = ContextVar("llmgine_receiving", default=None)


def receive(delivery: Delivery, event: Event, only: Container[str] | None) -> list[Failure]:
    """``Delivery.receive``: deliver ``event``, publish what it caused, wait for its
    background subscribers; return every failure."""
    if not isinstance(event, Event):
        raise TypeError(f"deliver() needs an Event instance, got {event!r}")
    queue: deque[Entry] = deque()
    found = Receiving(event, sync=True)
    token = receiving.set(found)
    try:
        failures = list(delivery.deliver(event, _depth_here(), DIRECT, queue, only))
    except SubscriberError as error:
        failures = _failures_of(event, error)
    finally:
        found.open = False
        receiving.reset(token)
    delivery.drain_out(queue)
    if found.receipts:
        failures.extend(wait_for_receipts(found))
    return failures


async def receive_async(
    delivery: Delivery, event: Event, only: Container[str] | None
) -> list[Failure]:
    """Like :func:`receive`, awaiting ``async def`` subscribers and the background ones."""
    if not isinstance(event, Event):
        raise TypeError(f"deliver_async() needs an Event instance, got {event!r}")
    queue: deque[Entry] = deque()
    found = Receiving(event, sync=False)
    token = receiving.set(found)
    try:
        failures = await deliver_async(delivery, event, _depth_here(), DIRECT, queue, only)
    except SubscriberError as error:
        failures = _failures_of(event, error)
    finally:
        found.open = False
        receiving.reset(token)
    await delivery.drain_out_async(queue)
    if found.receipts:
        failures.extend(await wait_for_receipts_async(found))
    return failures


def wait_for_receipts(found: Receiving) -> list[Failure]:
    """Block until every receipt of ``found`` is finished; return the failed ones."""
    for receipt in found.receipts:
        if not receipt.done:
            done = threading.Event()
            receipt.then(done.set)
            done.wait()
    return _failures(found)


async def wait_for_receipts_async(found: Receiving) -> list[Failure]:
    """Like :func:`wait_for_receipts`, awaiting (the loop goes on meanwhile)."""
    import asyncio

    loop = asyncio.get_running_loop()
    for receipt in found.receipts:
        if not receipt.done:
            waiter: asyncio.Future[None] = loop.create_future()
            receipt.then(wakes(loop, waiter))
            await waiter
    return _failures(found)


def wakes(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None]) -> Callable[[], None]:
    """A callable, safe to call from any thread, that resolves ``waiter`` on ``loop``."""

    def resolve() -> None:
        if not waiter.done():  # (cancelled meanwhile)
            waiter.set_result(None)

    def wake() -> None:
        with contextlib.suppress(RuntimeError):  # (the loop is closed: nobody waits any more)
            loop.call_soon_threadsafe(resolve)

    return wake


def _failures(found: Receiving) -> list[Failure]:
    return [(r.subscriber, r.error) for r in found.receipts if r.error is not None]


def _depth_here() -> int:
    """The depth of an event handed over in the current scope (1 outside any)."""
    scope = get_scope()
    return scope.depth + 1 if scope is not None else 1


def _failures_of(event: Event, error: SubscriberError) -> list[Failure]:
    """Strict mode raised after running every subscriber of ``event``: its failures again."""
    if error.event is not event or not error.failed:
        raise error
    return list(error.failed)
