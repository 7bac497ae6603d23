"""The tasks ``emit_async`` runs ``async def`` subscribers in, and waiting for them.

Each async subscriber runs as a task of its own (named after it), so inside it
``asyncio.current_task()`` is its own and its context changes stay its own. The
emitter waits for them all; a cancellation of the emitter cancels those still
running, while a subscriber's own failure or cancellation is that subscriber's.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Coroutine, Generator
from types import coroutine
from typing import TYPE_CHECKING, Any

from ._scope import CLOSED

if TYPE_CHECKING:
    import asyncio

    from ._scope import Scope
    from ._subscribers import Subscriber

__all__ = ["Started", "Tasks", "abandon", "outcome", "wait"]

#: (subscriber, its scope, the task running it if it is a coroutine)
Started = tuple["Subscriber", "Scope", "asyncio.Task[Any] | None"]


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
    the emitter's pending cancellations, before its subscribers started, even one the
    task we were awaiting swallowed) cancels the rest and propagates.
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
            await task
        except Exception:
            pass
        except BaseException:
            if task.cancelled() and current.cancelling() == before:
                continue  # the subscriber was cancelled, not us: its failure, read later
            abandon(started)
            raise
        if current.cancelling() != before:  # ours, swallowed by the task we awaited
            abandon(started)
            raise asyncio.CancelledError


@coroutine
def _one_pass() -> Generator[None, None, None]:
    """``asyncio.sleep(0)``, without going through the ``asyncio`` module, where tests often
    patch ``sleep`` (a bare yield is what it does: the task reschedules itself)."""
    yield


def outcome(subscriber: Subscriber, task: asyncio.Task[Any]) -> Exception | None:
    """The exception a finished subscriber task failed with, if any."""
    if task.cancelled():
        # Not our cancellation (that raised in the emitter): the subscriber's own
        # doing, so it is that subscriber's failure.
        return RuntimeError(f"subscriber {subscriber.name} was cancelled before it finished")
    error = task.exception()
    if error is None or (isinstance(error, Exception) and not isinstance(error, RecursionError)):
        return error
    # a runaway cascade (or the recursion limit that stopped one first), KeyboardInterrupt
    # and the like are not subscriber failures
    raise error


def abandon(started: list[Started]) -> None:
    """Cancel the subscriber tasks still running and close every scope: nothing gets published."""
    for _, scope, task in started:
        scope[CLOSED] = True
        if task is not None:
            task.cancel()
