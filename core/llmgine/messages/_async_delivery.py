"""Delivering one event to ``async def`` subscribers: the async half of :mod:`._delivery`.

Each async subscriber runs as a task of its own (named after it), so inside it
``asyncio.current_task()`` is its own, ``asyncio.timeout()`` and ``TaskGroup`` cancel
it and not the emitter, and its context changes stay its own. The emitter waits for
them all; a cancellation of the emitter cancels those still running, while a
subscriber's own failure or cancellation is that subscriber's. A delivery goes in
three steps, each a method of :class:`_Run`: call every subscriber (:meth:`_Run.start`),
wait for the tasks (:meth:`_Run.wait`), read the outcomes and queue what succeeded
(:meth:`_Run.finish`).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Container, Coroutine, Generator
from types import CoroutineType, coroutine
from typing import TYPE_CHECKING, Any

from ._delivery import QUEUED, Failure, Queue, as_failure, entries, propagates
from ._scope import Scope, reset_scope, set_scope
from .errors import EventCascadeError

if TYPE_CHECKING:
    import asyncio

    from ._delivery import Delivery
    from ._subscribers import Plan, Subscriber
    from .events import Event

__all__ = ["Started", "Tasks", "deliver_async"]

#: (subscriber, its scope, the task running it if it is a coroutine)
Started = tuple["Subscriber", Scope, "asyncio.Task[Any] | None"]


async def deliver_async(
    delivery: Delivery,
    event: Event,
    depth: int,
    kind: int,
    queue: Queue,
    only: Container[str] | None = None,
) -> list[Failure]:
    """Run the subscribers of ``event``, awaiting async ones; queue what they publish.

    Returns the failures (after reporting them as :meth:`Delivery.failed` does).
    """
    plan = delivery.plan(event, only)
    if plan.subscribers and depth > delivery.max_cascade_depth:
        delivery.cascade(event)
    observe = delivery.observe
    if observe is not None:  # (not before: an event refused above was not published)
        observe(event)
    if not plan.subscribers:
        return []
    run = _Run()  # (the fields set here: a Python __init__ costs ~70 ns per event)
    run.delivery, run.event, run.depth = delivery, event, depth
    run.shared, run.failures, run.started = None, [], []
    # Before any subscriber runs (one may cancel the emitter, even in an eager first
    # step), and only if some are async (or, later, a plain one returns a coroutine).
    run.tasks = Tasks() if plan.starts_tasks else None
    run.start(plan.asubscribers)
    if run.running():  # (no coroutine made to wait for nothing)
        await run.wait()
    failures = run.finish(plan, queue)
    if failures:
        delivery.failed(event, depth, kind, failures, queue)
    return failures


class _Run:
    """One event's async delivery in progress.

    Plain subscribers share one scope (``shared``, made for the first of them), as in
    :meth:`Delivery.deliver`: the events each queued move out when it returns. A
    coroutine gets a scope of its own, set while its task is created (the task copies
    the context). ``started`` lists every subscriber with something to wait for or
    publish, in subscription order.
    """

    __slots__ = ("delivery", "depth", "event", "failures", "shared", "started", "tasks")

    delivery: Delivery
    event: Event
    depth: int
    shared: Scope | None
    failures: list[Failure]
    started: list[Started]
    tasks: Tasks | None

    def start(self, subscribers: tuple[Subscriber, ...]) -> None:
        """Call each subscriber in order: a plain one runs to its end, a coroutine starts."""
        event, shared, token = self.event, self.shared, None
        try:
            for subscriber in subscribers:
                if subscriber.is_async:
                    self._start(subscriber, None)
                    continue
                if shared is None:  # (its fields set here, as in Scope.new(), without its call)
                    shared = self.shared = Scope()
                    shared.message_id, shared.correlation_id = event.event_id, event.correlation_id
                    shared.session_id = event.session_id
                    shared.depth, shared.pending, shared.closed = self.depth, None, False
                    token = set_scope(shared)
                try:
                    result = subscriber.handler(event)
                except BaseException as exc:
                    self._failed(subscriber, exc, None)
                    continue
                if result.__class__ is CoroutineType:  # a plain function made a coroutine
                    self._start(subscriber, result)
                elif shared.pending is not None:  # its events, kept apart until the end
                    done = shared.child()
                    done.pending = shared.take()
                    self.started.append((subscriber, done, None))
        finally:
            if token is not None:
                reset_scope(token)

    def _start(self, subscriber: Subscriber, coro: Any) -> None:
        """Start ``coro`` (or, if ``None``, the coroutine ``subscriber`` makes) as a task in
        a scope of its own, which takes the events a plain subscriber queued before."""
        event = self.event
        own = Scope.new(event.event_id, event.correlation_id, self.depth, event.session_id)
        if coro is not None and self.shared is not None:
            own.pending = self.shared.take()
        token = set_scope(own)
        try:
            if coro is None:
                coro = subscriber.handler(event)  # calling it only makes the coroutine
            if coro.__class__ is not CoroutineType:
                task = None
            else:
                if self.tasks is None:
                    self.tasks = Tasks()
                try:
                    task = self.tasks.start(coro, name=subscriber.name)
                except BaseException:
                    coro.close()  # no task was made (else Python warns it was never awaited)
                    raise
        except BaseException as exc:
            self._failed(subscriber, exc, own)
            return
        finally:
            reset_scope(token)
        self.started.append((subscriber, own, task))

    def _failed(self, subscriber: Subscriber, exc: BaseException, own: Scope | None) -> None:
        """``subscriber`` raised ``exc``: its failure, or (raised again) the delivery's end."""
        if isinstance(exc, RecursionError) or propagates(exc):  # (a cascade is one)
            self._abandon(own)
            if isinstance(exc, RecursionError) and not isinstance(exc, EventCascadeError):
                self.delivery.cascade(self.event, exc)
            raise exc
        if own is not None:
            own.closed = True
        elif self.shared is not None:
            self.shared.pending = None  # drop what it queued
        self.failures.append((subscriber, as_failure(subscriber, exc)))

    def _abandon(self, own: Scope | None) -> None:
        """The delivery stops: close every scope and cancel the tasks still running."""
        for scope in (self.shared, own):
            if scope is not None:
                scope.closed = True
        abandon(self.started)

    def running(self) -> bool:
        """Whether a subscriber task is still running (an eager one may be done already)."""
        if self.tasks is None:
            return False
        return any(task is not None and not task.done() for _, _, task in self.started)

    async def wait(self) -> None:
        """Wait for the subscriber tasks; if the emitter is cancelled, nothing gets published."""
        assert self.tasks is not None  # (see running())
        try:
            await wait(self.started, self.tasks)
        except BaseException:
            self._abandon(None)
            raise

    def finish(self, plan: Plan, queue: Queue) -> list[Failure]:
        """Close every scope, then queue the events of each subscriber that succeeded."""
        shared = self.shared
        if shared is not None:
            shared.closed = True
            if shared.pending is not None:  # queued late, by what a plain subscriber started
                self.started.append((plan.asubscribers[-1], shared, None))
        for _, scope, _ in self.started:
            scope.closed = True
        for subscriber, scope, task in self.started:
            try:
                error = outcome(subscriber, task) if task is not None else None
            except RecursionError as exc:
                if not isinstance(exc, EventCascadeError):
                    self.delivery.cascade(self.event, exc)
                raise
            if error is not None:
                self.failures.append((subscriber, error))
            elif scope.pending is not None:
                queue.extend(entries(scope.pending, self.depth + 1, QUEUED))
        return self.failures


class Tasks:
    """How one delivery starts its subscribers' tasks.

    ``start(coro, name=...)`` starts one, eagerly where Python can (3.12+) unless the
    application set a task factory, which then makes it (``eager`` says which). An eager
    task runs its first step at once, as the current task, so a subscriber that finishes
    without suspending costs no trip through the event loop and runs in subscription
    order with the plain ones; on 3.11 each task's first step waits for the loop. Tasks
    are named after their subscriber (which also spares asyncio formatting a
    ``Task-<n>`` name for each). ``emitter`` is the task delivering (``None`` when driven
    outside a task), and ``cancelling`` how many cancellations of it were pending when
    the delivery began (see :func:`wait`).
    """

    __slots__ = ("cancelling", "eager", "emitter", "start")

    def __init__(self) -> None:
        import asyncio  # imported already: a loop is running (kept off import time)

        loop = asyncio.get_running_loop()
        self.start: Callable[..., asyncio.Task[Any]]
        if loop.get_task_factory() is not None:  # the application's own tasks: respect them
            self.start = functools.partial(_start_from_factory, loop.create_task)
            self.eager = False
        # else asyncio.Task itself: loop.create_task only adds a Python call in front of it
        elif sys.version_info >= (3, 12):
            self.start = functools.partial(asyncio.Task, loop=loop, eager_start=True)
            self.eager = True
        else:
            self.start = functools.partial(asyncio.Task, loop=loop)
            self.eager = False
        self.emitter = asyncio.current_task()
        self.cancelling = 0 if self.emitter is None else self.emitter.cancelling()


def _start_from_factory(
    create_task: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
    coro: Coroutine[Any, Any, Any],
    *,
    name: str,
) -> asyncio.Task[Any]:
    # Not create_task(coro, name=name): Python 3.14 (and 3.13.3) pass ``name`` on to
    # the factory, which breaks a factory written as ``(loop, coro)``. The name is set
    # afterwards, as loop.create_task itself does on 3.11-3.13.
    task = create_task(coro)
    set_name = getattr(task, "set_name", None)  # a Future-like object may have none
    if set_name is not None:
        set_name(name)
    return task


async def wait(started: list[Started], tasks: Tasks) -> None:
    """Wait until every subscriber task is done; if we are cancelled, cancel them all.

    Like ``asyncio.wait(tasks)`` but awaiting them one by one, which costs a fraction
    of it (they run concurrently all the same). A task's own failure or cancellation
    is read afterwards; a cancellation of ours (one requested since ``tasks`` counted
    the emitter's pending cancellations, before its subscribers started) cancels the
    rest and propagates.
    """
    import asyncio

    current, before = tasks.emitter, tasks.cancelling
    if current is None:  # driven outside a task: no cancellation of ours to tell apart
        await asyncio.wait([t for _, _, t in started if t is not None])
        return
    if not tasks.eager and not all(task is None or task.done() for _, _, task in started):
        # Tasks not started eagerly: one pass of the event loop first. Their first steps
        # were queued before ours, so when we resume, every subscriber that did not
        # suspend is done and we wait on none of them (waiting on a task costs another
        # pass for its wake-up).
        try:
            await _one_pass()
        except BaseException:
            abandon(started)
            raise
    for _, _, task in started:
        if task is None or task.done():
            continue
        try:
            await _finished(task)
        except BaseException:  # our cancellation (the waiter cannot fail otherwise)
            abandon(started)
            raise
        if current.cancelling() != before:  # ours, requested while we were not waiting
            abandon(started)
            raise asyncio.CancelledError


def _finished(task: asyncio.Task[Any]) -> asyncio.Future[None]:
    """A future that is done when ``task`` is, whatever its outcome.

    Not ``await task``: that raises the task's exception here, where a
    ``GeneratorExit`` would close the emitter's frames instead of being caught. A
    cancellation of ours cancels this future, not the subscriber's task.
    """
    waiter: asyncio.Future[None] = task.get_loop().create_future()

    def wake(_: object) -> None:
        if not waiter.done():  # (cancelled with us)
            waiter.set_result(None)

    task.add_done_callback(wake)
    return waiter


@coroutine
def _one_pass() -> Generator[None, None, None]:
    """``asyncio.sleep(0)``, without going through the ``asyncio`` module, where tests often
    patch ``sleep`` (a bare yield is what it does: the task reschedules itself)."""
    yield


def outcome(subscriber: Subscriber, task: asyncio.Task[Any]) -> Exception | None:
    """The failure of a finished subscriber task, if any.

    Raises what stops a delivery instead (see :func:`~._delivery.propagates`), and a
    runaway cascade (or the recursion limit that stopped one first).
    """
    if task.cancelled():
        # Not our cancellation (that raised in the emitter): the subscriber's own
        # doing, so it is that subscriber's failure.
        return RuntimeError(f"subscriber {subscriber.name} was cancelled before it finished")
    error = task.exception()
    if error is None:
        return None
    if isinstance(error, RecursionError) or propagates(error):
        raise error
    return as_failure(subscriber, error)


def abandon(started: list[Started]) -> None:
    """Cancel the subscriber tasks still running and close every scope: nothing gets published."""
    for _, scope, task in started:
        scope.closed = True
        if task is not None:
            task.cancel()
