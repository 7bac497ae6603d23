"""Waiting for an event: ``bus.wait_for(...)`` and ``bus.expect(...)`` (and a session's).

A :class:`Waiter` is a plain subscriber while it waits: it sees what every other
subscriber sees (events published on the bus, and those a transport delivers to this
process), from the moment it is made, so ``expect()`` before the dispatch that
causes the event cannot miss it. Whatever the outcome (a match, the timeout, a
cancellation, ``where`` raising), its subscription is gone when it is done.

Threads: the event may be published from any thread. ``where`` then runs in the
publisher's thread (it is part of the delivery), and the waiter's future is completed
on its own event loop (``call_soon_threadsafe``); the subscription is taken under a
lock, so of two events matching at once in two threads exactly one wins.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Generator
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from ._naming import callable_name, is_async_callable, type_name
from .errors import SessionError

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
    and what ``where`` raised if it raised (the delivery of that event to the other
    subscribers is not affected). :meth:`cancel` (or leaving ``with waiter:``) stops
    waiting; so does cancelling the task that awaits it. A waiter that is never
    awaited keeps its subscription until it matches, times out or is cancelled; if
    its event loop ends first (its timeout can no longer fire), until the first event
    of ``key`` is published.
    """

    __slots__ = (
        "_done",
        "_future",
        "_key",
        "_lock",
        "_loop",
        "_subscription",
        "_timer",
        "_where",
    )

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
                "expect() and wait_for() need a running event loop: call them from async "
                "code (the event itself may be published from any thread)"
            ) from None
        _check(where, timeout)
        self._loop = loop
        self._future: asyncio.Future[E] = loop.create_future()
        self._key = key
        self._where = where
        self._lock = threading.Lock()  # publishers in other threads may match at once
        self._timer: asyncio.TimerHandle | None = None
        #: whether the waiting ended (matched, failed, timed out, cancelled); set once,
        #: under the lock, by whoever ends it
        self._done = False
        self._subscription: Subscription | None = None
        # A bad key raises here, leaving nothing behind. Once subscribed, an event may
        # match (in another thread) before subscribe() returns: the subscription is then
        # removed here rather than by the match.
        subscription: Subscription | None = subscribe(key, self._on_event)
        with self._lock:
            if not self._done:
                self._subscription, subscription = subscription, None
        if subscription is not None:
            subscription.unsubscribe()
            return
        if timeout is not None:
            self._timer = loop.call_later(timeout, self._time_out, timeout)
        mine = self._subscription
        if mine is not None:
            # Removed by someone else (its session ended, the bus was reset): fail at once
            # rather than wait for a match that can no longer come.
            mine.on_removed = self._removed

    def __repr__(self) -> str:
        state = "waiting" if not self._future.done() else "done"
        return f"<Waiter for {self._describe()} ({state})>"

    def _describe(self) -> str:
        key = self._key
        what = type_name(key) if isinstance(key, type) else repr(key)
        if self._where is not None:
            what += f" accepted by where={callable_name(self._where)}"
        return what

    # The subscriber side (in the publisher's thread) ----------------------------------

    def _on_event(self, event: E) -> None:
        if self._done:
            return  # (matched, timed out or cancelled: the subscription is on its way out)
        if self._loop.is_closed():
            # Its loop ended (asyncio.run returned) before it was awaited, cancelled or
            # timed out: nothing can await it any more, so its first event removes it.
            self._end()
            return
        error: Exception | None = None
        where = self._where
        if where is not None:
            try:
                accepted = where(event)
                if isinstance(accepted, CoroutineType):
                    accepted.close()
                    raise TypeError(
                        f"where={callable_name(where)} returned a coroutine: it runs inside "
                        "the event's delivery, so it must be a plain function"
                    )
                if not accepted:
                    return
            except Exception as exc:  # the waiter's own bug: raised where it is awaited
                error = exc
        if self._end():  # (False: another publisher's event won)
            self._on_loop(self._complete, event, error)

    def _end(self) -> bool:
        """End the waiting and unsubscribe, unless it ended already; whether this call did."""
        with self._lock:
            if self._done:
                return False
            self._done = True
            subscription, self._subscription = self._subscription, None
        if subscription is not None:  # (None: still being subscribed, see __init__)
            subscription.unsubscribe()
        return True

    def _removed(self, subscription: Subscription) -> None:
        if not self._end():
            return  # (it ended first: it unsubscribed itself)
        what = f"waiting for {self._describe()}"
        error: Exception = (
            SessionError(f"session {subscription.session_id!r} ended while {what}")
            if subscription.session_id is not None
            else RuntimeError(
                f"the bus's subscriptions were reset or restored while {what}, which "
                "removed the waiter's"
            )
        )
        self._on_loop(self._complete, None, error)

    def _on_loop(self, function: Callable[..., None], *args: Any) -> None:
        """Call ``function(*args)`` on the waiter's loop (now, if this is its thread)."""
        if _running_loop() is self._loop:
            function(*args)
            return
        # A closed loop raises RuntimeError: nothing can await the waiter any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(function, *args)

    # On the waiter's loop ------------------------------------------------------------

    def _complete(self, event: E, error: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._future.done():
            return  # (its task was cancelled meanwhile)
        if error is not None:
            self._future.set_exception(error)
        else:
            self._future.set_result(event)

    def _time_out(self, timeout: float) -> None:
        if self._end() and not self._future.done():
            self._future.set_exception(
                TimeoutError(f"no event matching {self._describe()} within {timeout:g} s")
            )

    def _cancelled(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._future.cancel()

    # The waiting side ----------------------------------------------------------------

    def cancel(self) -> None:
        """Stop waiting (from any thread): unsubscribe; awaiting the waiter then raises
        ``asyncio.CancelledError``. Does nothing once the waiter matched, failed or
        timed out (awaiting it still gives that outcome)."""
        if self._end():
            self._on_loop(self._cancelled)

    def done(self) -> bool:
        """Whether the waiter's outcome is known (matched, failed, timed out, cancelled)."""
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
        Needs a running event loop; the event may be published from any thread (then
        ``where`` runs in that thread). ``timeout`` is in seconds (``None``: no limit).
        See docs/guide/waiting.md.
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


def _check(where: object, timeout: object) -> None:
    """Refuse a ``where`` or ``timeout`` that cannot work, before anything is subscribed."""
    if where is not None:
        if not callable(where):
            raise TypeError(f"where must be a function of the event (or None), got {where!r}")
        if is_async_callable(where):
            raise TypeError(
                f"where={callable_name(where)} is async: it runs inside the event's delivery, "
                "so it must be a plain function returning whether the event is the one"
            )
    if timeout is None:
        return
    if timeout.__class__ is bool or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
    if not timeout >= 0:  # (NaN too)
        raise ValueError(f"timeout must be None or at least 0 seconds, got {timeout!r}")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
