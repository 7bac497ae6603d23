"""What the metrics add to one bus while the plugin runs there, and what they read of it.

:class:`BusMetrics` adds a command middleware (commands dispatched and failed, and their
duration, per command type), an event middleware (subscriber calls and failures per event
type) and an event observer (events published per type) to its bus when started, and takes
all three off again when stopped (the plugin's ``shutdown``). They count into the bus's
:class:`~llmgine_otel._instruments.Tallies`, which the counters read at collection time, as
they read the bus's open sessions and background queues: per message, the metrics cost a
dict increment or two (and a histogram record per dispatch).

A background queue's drops are read off the queue while its subscription is live; the
observer, told of every subscription removed (an unsubscribe, a session's end, a reset),
counts them into the tallies then, and so does :meth:`BusMetrics.stop` for the queues
still subscribed: the counter never goes back, and the drops of a session that came and
went between two collections are counted.
"""

from __future__ import annotations

import functools
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Iterator
from types import CoroutineType
from typing import Any, ClassVar

from llmgine.messages import Event
from llmgine.messages.bus import MessageBus, Subscription
from llmgine.middleware import Next

from ._instruments import ERROR_TYPE, Instruments, Tallies
from ._spans import ATTRIBUTES, type_name

__all__ = ["BusMetrics", "base_name", "pending_of"]

_TYPE = ATTRIBUTES["type"]


class BusMetrics:
    """The metrics of one bus: see the module docstring."""

    __slots__ = (
        "__weakref__",
        "_lock",
        "_removers",
        "bus",
        "commands",
        "events",
        "instruments",
        "observer",
        "tallies",
    )

    def __init__(self, bus: MessageBus, instruments: Instruments) -> None:
        self.bus = bus
        self.instruments = instruments
        #: what this bus counted
        self.tallies = Tallies()
        #: the command middleware
        self.commands = _CommandMetrics(instruments, self.tallies)
        #: the event middleware
        self.events = _DeliveryMetrics(self.tallies)
        #: the event observer
        self.observer = _Observer(instruments, self.tallies)
        self._lock = threading.Lock()
        self._removers: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"<BusMetrics {'started' if self.started else 'stopped'} on {self.bus!r}>"

    @property
    def started(self) -> bool:
        """Whether its middleware and observer are on the bus."""
        return bool(self._removers)

    def start(self, slot: int | None) -> None:
        """Add the middleware (into middleware slot ``slot``, if given) and the observer;
        a no-op if started."""
        with self._lock:
            if self._removers:
                return
            bus = self.bus
            self._removers = [
                bus.add_command_middleware(self.commands, slot=slot),
                bus.add_event_middleware(self.events, slot=slot),
                bus.add_event_observer(self.observer),
            ]
            self.instruments.add_source(self)

    def stop(self) -> None:
        """Take the middleware and the observer off the bus; a no-op if stopped. What
        was counted stays counted."""
        with self._lock:
            removers, self._removers = self._removers, []
            if removers:  # what the queues still subscribed dropped, counted before it goes
                for subscription in self.bus.subscriptions:
                    self.observer.subscription_removed(subscription)
            self.instruments.retire(self)
        for remove in reversed(removers):
            remove()

    def open_sessions(self) -> int:
        """How many sessions are open on the bus (read at collection)."""
        return len(self.bus.sessions)

    def background(self) -> Iterator[tuple[str, int | None, int]]:
        """Each background subscription's subscriber name, pending events, and dropped
        events not counted in the tallies yet."""
        folded = self.instruments.folded
        for subscription in self.bus.subscriptions:
            queue = subscription.subscriber.background
            if queue is not None:
                name = base_name(subscription.subscriber.name)
                yield name, pending_of(queue), queue.dropped - folded(queue)


class _Observer:
    """The event observer: counts each event published, and the drops of each background
    queue whose subscription is removed (see the module docstring)."""

    __slots__ = ("instruments", "tallies")

    def __init__(self, instruments: Instruments, tallies: Tallies) -> None:
        self.instruments = instruments
        self.tallies = tallies

    def __call__(self, event: Event) -> None:
        self.tallies.add("llmgine.events.published", (event.event_type,))

    def subscription_removed(self, subscription: Subscription) -> None:
        """Count what the subscription's background queue dropped, if it has one."""
        queue = subscription.subscriber.background
        if queue is not None:
            name = base_name(subscription.subscriber.name)
            self.instruments.fold(self.tallies, name, queue)


def base_name(name: str) -> str:
    """A subscriber's name without the ``#2``, ``#3``... that tells apart subscriptions of
    callables with the same name (each session's subscriber of one function, say), so that
    they are counted as one subscriber and the number of series stays that of the code's
    subscribers."""
    base, sep, number = name.rpartition("#")
    return base if sep and number.isdigit() else name


def pending_of(queue: object) -> int | None:
    """How many events wait on a background subscriber's queue, ``None`` if it does not say.

    Read as the queue's ``pending`` count, or else its ``len()``.
    """
    pending = getattr(queue, "pending", None)
    if isinstance(pending, int):
        return pending
    try:
        return len(queue)  # type: ignore[arg-type]
    except TypeError:
        return None


class _CommandMetrics:
    """Counts each command handler call and records its duration, per command type.

    Wraps both paths (``plain_on_async``: a plain handler on the async path needs no
    coroutine), like an :class:`~llmgine.middleware.Around`, with one call fewer. A plain
    handler that returns a coroutine (``lambda c: agent.answer(c)``), which
    ``dispatch_async`` awaits, is measured when that coroutine ends: see :func:`_finished`.
    """

    plain_on_async: ClassVar[bool] = True

    def __init__(self, instruments: Instruments, tallies: Tallies) -> None:
        self.duration = instruments.command_duration
        self.tallies = tallies
        self._names: dict[type, str] = {}

    def _name(self, cls: type) -> str:
        name = self._names.get(cls)
        if name is None:
            name = self._names[cls] = type_name(cls)
        return name

    def _done(self, message: Any, start: float, error: BaseException | None) -> None:
        seconds = time.perf_counter() - start
        name = self._name(message.__class__)
        self.tallies.add("llmgine.commands.dispatched", (name,))
        if error is None:
            self.duration.record(seconds, {_TYPE: name})
            return
        error_type = type_name(error.__class__)
        self.tallies.add("llmgine.commands.failed", (name, error_type))
        # A failed call's duration carries its error, as the semantic conventions do.
        self.duration.record(seconds, {_TYPE: name, ERROR_TYPE: error_type})

    def __call__(self, message: Any, call_next: Next[Any]) -> Any:
        start = time.perf_counter()
        try:
            result = call_next(message)
        except BaseException as exc:
            self._done(message, start, exc)
            raise
        if result.__class__ is CoroutineType:
            return _finished(result, functools.partial(self._done, message, start))
        self._done(message, start, None)
        return result

    async def acall(self, message: Any, call_next: Next[Any]) -> Any:
        """The async-path version of ``__call__``."""
        start = time.perf_counter()
        try:
            result = await call_next(message)
        except BaseException as exc:
            self._done(message, start, exc)
            raise
        self._done(message, start, None)
        return result


class _DeliveryMetrics:
    """Counts each subscriber call, and each that raised, per event type (both paths).

    A plain subscriber's coroutine (which ``emit_async`` awaits) failing is its call
    failing: see :func:`_finished`.
    """

    plain_on_async: ClassVar[bool] = True

    def __init__(self, tallies: Tallies) -> None:
        self.tallies = tallies

    def _failed(self, event: Any, error: BaseException) -> None:
        key = (event.event_type, type_name(error.__class__))
        self.tallies.add("llmgine.events.failed", key)

    def _ended(self, event: Any, error: BaseException | None) -> None:
        if error is not None:
            self._failed(event, error)

    def __call__(self, event: Any, call_next: Next[Any]) -> Any:
        self.tallies.add("llmgine.events.delivered", (event.event_type,))
        try:
            result = call_next(event)
        except BaseException as exc:
            self._failed(event, exc)
            raise
        if result.__class__ is CoroutineType:
            return _finished(result, functools.partial(self._ended, event))
        return result

    async def acall(self, event: Any, call_next: Next[Any]) -> Any:
        """The async-path version of ``__call__``."""
        self.tallies.add("llmgine.events.delivered", (event.event_type,))
        try:
            return await call_next(event)
        except BaseException as exc:
            self._failed(event, exc)
            raise


def _finished(
    coro: Coroutine[Any, Any, Any], done: Callable[[BaseException | None], object]
) -> Coroutine[Any, Any, Any]:
    """``coro``, a plain handler's or subscriber's coroutine, calling ``done`` with what it
    raised (``None``: nothing) once it ends.

    A plain callable that returns a coroutine gets the plain chain on the async paths (all
    the metrics' middleware say ``plain_on_async``), so the call itself only makes the
    coroutine: ``dispatch_async`` or ``emit_async`` runs it after the middleware returned.
    The bus recognises a coroutine by its class, so this is one too. If the bus closes it
    unstarted (``dispatch()`` and ``emit()`` refuse a coroutine), ``coro`` is closed with
    it, as the bus would have closed it, and nothing more is counted (as for an ``async def``
    handler that ``dispatch()`` refuses).
    """

    async def awaited() -> Any:
        try:
            result = await coro
        except BaseException as exc:
            done(exc)
            raise
        done(None)
        return result

    wrapper = awaited()
    weakref.finalize(wrapper, coro.close)  # (a no-op once it ran: a finished coroutine)
    return wrapper
