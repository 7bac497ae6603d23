"""Start coroutines eagerly, paying for a task only if they suspend.

Python 3.12 has ``asyncio.eager_task_factory``; 3.11 does not, so we step the
coroutine once ourselves, inside the context its task would get. If it finishes
in that step (the common case for a subscriber that only does a little work)
there is no task at all; if it suspends, :func:`resume` hands it, with that same
context, to a task without disturbing the future it is waiting on.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from contextvars import Context
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

__all__ = ["resume"]


class _Reyield:
    """Awaitable that passes an already-yielded value up to the running task."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self.value)


async def _drive(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    # Each value the coroutine yields (a future, or None for a bare yield) goes to
    # the task unchanged, and whatever the task sends or throws back goes in.
    while True:
        try:
            sent = await _Reyield(yielded)
        except BaseException as exc:  # cancellation included: the coroutine decides
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as stop:
                return stop.value


def resume(coro: Coroutine[Any, Any, Any], yielded: Any, context: Context) -> asyncio.Task[Any]:
    """Finish, in a new task running in ``context``, a coroutine that suspended after its
    first step (which ran in ``context`` too, so tokens it made there stay valid)."""
    import asyncio  # imported already: a loop is running (kept off import time)

    return asyncio.get_running_loop().create_task(_drive(coro, yielded), context=context)
