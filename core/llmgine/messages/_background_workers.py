"""What drains a background queue: a thread for a plain subscriber, a task for an async one.

Each event is handled as a delivery would handle it: in a scope of its own (the
event's correlation and session; events the subscriber queues are published after
it returns, dropped if it raises), inside the event's middleware chain, in a copy of
the publisher's ``contextvars`` context. A failure is reported as any subscriber's
(``system.bus.error``; logged only for the bus's own reports, lest reports about
reports loop); on a strict bus it is kept and raised by the next ``drain()``. Inside
a worker nothing stops the queue: every exception is the subscriber's failure.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from ._background_queue import BackgroundQueue, Item, current_background, running_loop
from ._background_reports import failure_kind, removed_meanwhile, reporting_failed
from ._delivery import QUEUED, Entry, as_failure, propagates
from ._receipts import receiving
from ._scope import Scope, set_scope
from .errors import AsyncHandlerError, SubscriberError

if TYPE_CHECKING:
    import asyncio

    from ._receipts import Receipt
    from .events import Event


__all__ = ["IDLE_SECONDS", "TaskQueue", "ThreadQueue"]

#: How long an idle worker thread waits for the next event before it ends (a new one
#: starts with the next event). A removed subscription's worker ends at once.
IDLE_SECONDS = 1.0


class ThreadQueue(BackgroundQueue):
    """A plain subscriber's queue, drained in order by a daemon thread of its own."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.work = threading.Condition(self.lock)  # the idle worker waits here
        self.running = False
        self.sleeping = False
        #: the worker thread (the last one started)
        self.thread: threading.Thread | None = None

    def wake(self) -> bool:
        if not self.running:
            self.running = True
            return True
        if self.sleeping:
            self.work.notify()
        return False

    def start(self) -> None:
        thread = threading.Thread(
            target=self.run, name=f"llmgine background {self.name}", daemon=True
        )
        self.thread = thread
        try:
            thread.start()
        except BaseException:
            with self.lock:
                self.running = False
            raise

    def set_active(self, active: bool, *, forget: bool = False) -> None:
        super().set_active(active, forget=forget)
        with self.lock:
            if self.sleeping:
                self.work.notify()

    def worker_here(self) -> bool:
        return threading.current_thread() is self.thread

    def stalled(self) -> str | None:
        if self.items and not self.running:  # (its worker could not start, or broke)
            return (
                "no worker thread is running for them (one could not be started); the next "
                "event published to it tries again"
            )
        return None

    def run(self) -> None:
        """The worker: handle queued events in order; end when idle or unsubscribed."""
        lock = self.lock
        try:
            while True:
                with lock:
                    item = self.take_locked()
                    if item is None:
                        if self.active:
                            self.sleeping = True
                            self.work.wait(IDLE_SECONDS)
                            self.sleeping = False
                        item = self.take_locked()
                        if item is None:
                            self.running = False
                            return
                item[3].run(self.handle, item)
        except BaseException:  # (a bug here: let drain() see the queue no longer drains)
            with lock:
                self.running = self.busy = False
                self.notify_locked()
            raise

    def handle(self, item: Item) -> None:
        """Handle one event (in its context: see the module docstring)."""
        event, receipt, scope = begin(self, item)
        generation = self.taken_in  # (see forsaken)
        error = None
        try:
            result = self.chain(event.__class__)(event)
            if result.__class__ is CoroutineType:
                result.close()
                raise AsyncHandlerError(
                    f"background subscriber {self.name} returned a coroutine; make it "
                    "'async def' so that the bus runs it on an event loop"
                )
        except BaseException as exc:
            error = as_failure(self.outer, exc)
        finally:
            scope.closed = True
        if removed_meanwhile(self, generation, event, error, receipt):
            return
        delivery = self.owner.delivery
        if error is None and scope.pending is not None:
            try:
                delivery.publish(scope.pending, scope.depth + 1, QUEUED)
            except SubscriberError as exc:  # strict: a subscriber of its events failed
                self.owner.stash(exc, self)
            except BaseException as exc:  # they could not be published: its failure
                error = as_failure(self.outer, exc)
        if error is not None:
            caused: deque[Entry] = deque()
            try:
                delivery.failed(
                    event, scope.depth, failure_kind(event), [(self.outer, error)], caused
                )
                delivery.drain_out(caused)
            except BaseException as exc:
                reporting_failed(self, event, receipt is not None, exc)
        if receipt is not None:
            receipt.finish(error)


class TaskQueue(BackgroundQueue):
    """An ``async def`` subscriber's queue, drained in order by a task on an event loop.

    The loop is the one running when it subscribed, else the one of the first publish
    that runs on a loop (and again after that loop has closed). A put from another
    thread hands the event over thread-safely. Each event runs in a task of its own,
    named after the subscriber (so ``asyncio.current_task()`` is its own).
    """

    recheck = 0.5  # (a loop can close before it runs the callback that starts a drainer)
    needs_loop = True

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.loop = running_loop()
        self.draining = False  # a drainer task is scheduled or running
        self.task: asyncio.Task[None] | None = None  # (asyncio keeps tasks weakly)
        self.room_waiters: deque[asyncio.Future[None]] = deque()

    def prepare(self) -> None:
        here = running_loop()
        if here is not None and here is self.loop:
            return
        with self.lock:
            loop = self.loop
            if loop is not None and loop.is_closed():
                self.draining = False  # its drainer died with it
                loop = None
            if here is not None and (loop is None or not (loop.is_running() or self.draining)):
                self.loop = here  # (a loop that is not running, with nothing scheduled on it)
            elif loop is None:
                raise AsyncHandlerError(
                    f"async background subscriber {self.name} has no event loop to run on: "
                    + (
                        "none was running when it subscribed, nor is one running here"
                        if self.loop is None
                        else "its event loop has closed, and none is running here"
                    )
                    + "; subscribe it inside the running loop, or publish from a running loop "
                    "(e.g. 'await message_bus.emit_async(event)')"
                )

    def full_here(self) -> bool:
        return running_loop() is self.loop  # blocking would stop the loop that drains it

    def refuse_blocking_wait(self) -> None:
        super().refuse_blocking_wait()
        here, loop = running_loop(), self.loop
        if here is not None and (loop is None or here is loop or not loop.is_running()):
            raise AsyncHandlerError(
                f"deliver() cannot wait on this event loop for async background subscriber "
                f"{self.name}, which runs on it; use 'await bus.deliver_async(event)'"
            )

    def dead(self) -> bool:
        loop = self.loop
        return loop is None or loop.is_closed()

    def stalled(self) -> str | None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return (
                "its event loop has closed; publish on a running loop to run them there, and "
                "'await bus.drain_async()' (or aclose()) before a loop ends"
            )
        if not loop.is_running():
            return "its event loop is not running; run it, and 'await bus.drain_async()' there"
        return None

    def wake(self) -> bool:
        if self.draining:
            return False
        self.draining = True
        return True

    def start(self) -> None:
        loop = self.loop
        assert loop is not None  # (prepare() bound one)
        if running_loop() is loop:
            try:
                self.start_drainer()
            except BaseException:  # (a task factory refused): no drainer, see put()
                with self.lock:
                    self.draining = False
                raise
            return
        try:
            loop.call_soon_threadsafe(self.start_drainer)
        except RuntimeError:  # closed meanwhile: the events wait for the next loop
            with self.lock:
                self.draining = False
                self.notify_locked()
            self.release_receipts()  # (but a transport's delivery does not wait for it)

    def start_drainer(self) -> None:
        """Start the drainer task (on the loop), in a context of its own."""
        loop = self.loop
        assert loop is not None
        self.task = contextvars.Context().run(loop.create_task, self.drain())
        self.task.set_name(f"llmgine background {self.name}")

    def take_locked(self) -> Item | None:
        item = super().take_locked()
        while item is not None and self.room_waiters:  # one waiting publisher may go on
            waiter = self.room_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break
        return item

    async def put_later(self, item: Item) -> None:
        """Wait for room without blocking the loop, then put ``item`` (emit_async's path)."""
        loop = self.loop
        assert loop is not None
        worker = None
        try:
            while True:
                with self.lock:
                    if len(self.items) < self.max_pending:
                        self.items.append(item)
                        item = None  # type: ignore[assignment]
                        if not self.listed:
                            self.list_locked()
                        start = self.wake()
                        break
                    if worker is None:  # (raises if it would close a cycle)
                        worker = self.owner.wait_on(self)
                    waiter: asyncio.Future[None] = loop.create_future()
                    self.room_waiters.append(waiter)
                    self.waiting += 1
                    if not self.listed:
                        self.list_locked()
                try:
                    await waiter
                finally:
                    with self.lock:
                        self.waiting -= 1
                        self.settle_locked()
            if start:
                self.start()
        finally:
            if worker is not None:
                self.owner.done_waiting(worker)
            if item is not None and item[2] is not None:  # cancelled before it got in
                item[2].finish(RuntimeError(f"publishing to {self.name} was cancelled"))

    async def drain(self) -> None:
        """The drainer: handle queued events in order, each in a task; end when empty."""
        import asyncio

        lock = self.lock
        current = asyncio.current_task()
        assert current is not None
        try:
            while True:
                with lock:
                    item = self.take_locked()
                    if item is None:
                        self.draining = False
                        return
                task = item[3].run(current.get_loop().create_task, self.handle_async(item))
                task.set_name(self.name)
                try:
                    await asyncio.shield(task)
                except asyncio.CancelledError:
                    if current.cancelling():  # ours (the loop is ending): keep the event
                        if task.cancel() or task.cancelled():  # (not if it had finished)
                            with lock:
                                self.items.appendleft(item)
                        self.release_receipts()
                        raise
                    cancelled = RuntimeError(
                        f"background subscriber {self.name} was cancelled before it finished"
                    )  # its own task, not us
                    await item[3].run(current.get_loop().create_task, self.after(item, cancelled))
        finally:
            with lock:
                if self.busy or self.draining:  # (ended by an error: let drain() look again)
                    self.busy = self.draining = False
                    self.settle_locked()
                    self.notify_locked()

    async def handle_async(self, item: Item) -> None:
        """Handle one event (in its own task, in its context)."""
        import asyncio

        event, receipt, scope = begin(self, item)
        generation = self.taken_in  # (see forsaken)
        error = None
        try:
            result = self.chain(event.__class__)(event)
            if hasattr(result, "__await__"):  # (a coroutine, or what middleware returned)
                await result
        except BaseException as exc:
            task = asyncio.current_task()
            if propagates(exc) and task is not None and task.cancelling():
                raise  # cancelled from outside: the drainer keeps the event
            error = as_failure(self.outer, exc)
        finally:
            scope.closed = True
        if removed_meanwhile(self, generation, event, error, receipt):
            return
        if error is None and scope.pending is not None:
            try:
                await self.owner.delivery.publish_async(scope.pending, scope.depth + 1, QUEUED)
            except SubscriberError as exc:
                self.owner.stash(exc, self)
            except BaseException as exc:
                if propagates(exc):
                    raise
                error = as_failure(self.outer, exc)
        await self.after(item, error)

    async def after(self, item: Item, error: Exception | None) -> None:
        """Report ``error`` (if any) and finish the event's receipt."""
        event, depth, receipt, _ = item
        if error is not None:
            delivery = self.owner.delivery
            caused: deque[Entry] = deque()
            try:
                delivery.failed(event, depth, failure_kind(event), [(self.outer, error)], caused)
                await delivery.drain_out_async(caused)
            except BaseException as exc:
                if propagates(exc):
                    raise
                reporting_failed(self, event, receipt is not None, exc)
        if receipt is not None:
            receipt.finish(error)


def begin(queue: BackgroundQueue, item: Item) -> tuple[Event, Receipt | None, Scope]:
    """Make the current context (the one ``item`` carries) the one of ``queue``'s
    subscriber handling ``item``'s event; return the event, its receipt and its scope."""
    event, depth, receipt, _ = item
    current_background.set(queue)
    receiving.set(None)  # (copied from a transport's delivery: it is not this one's)
    scope = Scope.new(event.event_id, event.correlation_id, depth, event.session_id)
    set_scope(scope)
    return event, receipt, scope
