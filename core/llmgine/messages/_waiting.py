"""Waiting for an event: ``bus.wait_for(...)`` and ``bus.expect(...)`` (and a session's).

A :class:`Waiter` is a plain subscriber while it waits: it sees what every other
subscriber sees (events published on the bus, and those a transport delivers to this
process), from the moment it is made, so ``expect()`` before the dispatch that
causes the event cannot miss it. Whatever the outcome (a match, the timeout, a
cancellation), its subscription is gone when it is done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from ._naming import type_name

if TYPE_CHECKING:
    import asyncio

    from ._subscribers import Subscription
    from .events import Event

__all__ = ["Waiter", "Waiting"]

E = TypeVar("E", bound="Event")


class Waiter(Generic[E]):
    """The first event that matches, once it is published: ``await waiter`` gives it.

    Returned by :meth:`MessageBus.expect <llmgine.messages.bus.MessageBus.expect>`.
    Awaiting raises ``TimeoutError`` once ``timeout`` seconds passed without a match,
    and what ``where`` raised if it raised. :meth:`cancel` (or leaving ``with
    waiter:``) stops waiting.
    """

    __slots__ = ("_future", "_key", "_lock", "_loop", "_subscription", "_timer", "_where")

    def __init__(
        self,
        subscribe: Callable[..., Subscription],
        key: str | type[E],
        where: Callable[[E], object] | None,
        timeout: float | None,
    ) -> None:
        import asyncio  # (kept off import time: only async code waits)

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "expect() and wait_for() need a running event loop: call them from async code"
            ) from None
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must be None or at least 0, got {timeout!r}")
        self._loop = loop
        self._future: asyncio.Future[E] = loop.create_future()
        self._key = key
        self._where = where
        self._lock = threading.Lock()  # publishers in other threads may match at once
        self._timer: asyncio.TimerHandle | None = None
        self._subscription: Subscription | None = subscribe(key, self._on_event)
        if timeout is not None:
            self._timer = loop.call_later(timeout, self._time_out, timeout)

    def __repr__(self) -> str:
        state = "waiting" if not self._future.done() else "done"
        return f"<Waiter for {self._describe()} ({state})>"

    def _describe(self) -> str:
        key = self._key
        return type_name(key) if isinstance(key, type) else repr(key)

    # The subscriber side (in the publisher's thread) ----------------------------------

    def _on_event(self, event: E) -> None:
        if self._future.done():
            return  # (matched or cancelled meanwhile; the subscription is on its way out)
        error: BaseException | None = None
        try:
            if self._where is not None and not self._where(event):
                return
        except Exception as exc:  # the waiter's own bug: raised where it is awaited
            error = exc
        with self._lock:
            if self._subscription is None:
                return  # another publisher's event won
            self._subscription.unsubscribe()
            self._subscription = None
        self._settle(event, error)

    def _settle(self, event: E | None, error: BaseException | None) -> None:
        """Complete the future on its loop (from whichever thread the publisher is in)."""
        if _running_loop() is self._loop:
            self._complete(event, error)
        else:
            self._loop.call_soon_threadsafe(self._complete, event, error)

    def _complete(self, event: E | None, error: BaseException | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._future.done():
            return
        if error is not None:
            self._future.set_exception(error)
        else:
            self._future.set_result(event)  # type: ignore[arg-type]

    def _time_out(self, timeout: float) -> None:
        if self._stop():
            self._future.set_exception(
                TimeoutError(f"no event matching {self._describe()} within {timeout:g} s")
            )

    def _stop(self) -> bool:
        """Unsubscribe, if not done yet; whether this call stopped it."""
        with self._lock:
            subscription, self._subscription = self._subscription, None
        if subscription is None:
            return False
        subscription.unsubscribe()
        if self._timer is not None:
            self._timer.cancel()
        return True

    # The waiting side ----------------------------------------------------------------

    def cancel(self) -> None:
        """Stop waiting; awaiting the waiter then raises ``asyncio.CancelledError``."""
        if self._stop():
            self._future.cancel()

    def done(self) -> bool:
        """Whether the waiter matched, failed, timed out or was cancelled."""
        return self._future.done()

    def __await__(self) -> Generator[Any, None, E]:
        try:
            return (yield from self._future.__await__())
        finally:
            self.cancel()  # (our task was cancelled: nothing is left subscribed)

    def __enter__(self) -> Waiter[E]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()


class Waiting:
    """``expect`` and ``wait_for`` for a class with ``subscribe_event`` (the bus, a session)."""

    subscribe_event: Callable[..., Subscription]

    @overload
    def expect(
        self,
        event_type: type[E],
        where: Callable[[E], object] | None = None,
        timeout: float | None = None,
    ) -> Waiter[E]: ...

    @overload
    def expect(
        self,
        event_type: str,
        where: Callable[[Event], object] | None = None,
        timeout: float | None = None,
    ) -> Waiter[Event]: ...

    def expect(
        self,
        event_type: str | type[Any],
        where: Callable[[Any], object] | None = None,
        timeout: float | None = None,
    ) -> Waiter[Any]:
        """Start waiting now for the first event that ``event_type`` (a type name, pattern
        or class) matches and ``where(event)`` (if given) accepts; ``await`` the result.

        Call it before the dispatch that causes the event, so it cannot be missed.
        Needs a running event loop; the event may be published from any thread.
        """
        return Waiter(self.subscribe_event, event_type, where, timeout)

    @overload
    async def wait_for(
        self,
        event_type: type[E],
        where: Callable[[E], object] | None = None,
        timeout: float | None = None,
    ) -> E: ...

    @overload
    async def wait_for(
        self,
        event_type: str,
        where: Callable[[Event], object] | None = None,
        timeout: float | None = None,
    ) -> Event: ...

    async def wait_for(
        self,
        event_type: str | type[Any],
        where: Callable[[Any], object] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Return the first matching event published after the call began (see
        :meth:`expect`); raises ``TimeoutError`` after ``timeout`` seconds."""
        return await Waiter(self.subscribe_event, event_type, where, timeout)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
