"""Composing middleware around command handlers and event subscribers, once.

A chain is built when a command type's handler is resolved (the bus caches it
in its handler table) and when an event type's subscriber plan is built (cached by
the subscriber registry); a dispatch then calls the cached chain. With no
middleware the cached entries are the plain handlers, so the hot paths do
exactly what they did before.

A middleware is called as ``middleware(message, call_next)``. ``call_next`` runs
the rest of the chain (and finally the handler or subscriber) and carries the
name of that handler or subscriber as ``call_next.handler_name``. Which paths a
middleware wraps depends on its shape:

* a plain function (or object with a plain ``__call__``): ``dispatch`` and ``emit``;
* an ``async def`` function (or object with ``async def __call__``):
  ``dispatch_async`` and ``emit_async``;
* an object with a plain ``__call__`` and an ``async def acall``: both.

An object may also define ``applies(message_class) -> bool``: it is asked once
per command or event class when the chain is built, and a ``False`` leaves the
middleware out of that class's chain entirely; and ``async_handlers_only = True``
leaves it out of the chains of plain (non-async) handlers and subscribers.

An object with ``plain_on_async = True`` declares that its plain ``__call__`` does
the same as its ``acall`` around a plain handler (true of every
:class:`llmgine.middleware.Around`); on an async path, a plain handler or
subscriber whose middleware all say so gets the plain chain, without a coroutine.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from ._naming import callable_name, is_async_callable

if TYPE_CHECKING:
    import threading

    from ._handlers import Handler, HandlerTable
    from ._registry import SubscriberRegistry
    from ._subscribers import Subscriber

__all__ = [
    "AsyncMiddleware",
    "Chains",
    "Kind",
    "Middleware",
    "MiddlewareStack",
    "Next",
]

M_contra = TypeVar("M_contra", contravariant=True)


class Next(Protocol[M_contra]):
    """What a middleware receives as ``call_next``: call it with the message to go on."""

    handler_name: str

    def __call__(self, message: M_contra, /) -> Any: ...


class AsyncMiddleware(Protocol):
    """An object whose ``async def acall(message, call_next)`` wraps the async paths."""

    async def acall(self, message: Any, call_next: Next[Any], /) -> Any:
        """Handle ``message`` on an async path, awaiting ``call_next(message)`` to go on."""


#: A middleware: ``def mw(message, call_next)``, ``async def mw(...)``, or an object with
#: ``acall`` (see the module docstring).
Middleware = Callable[[Any, Next[Any]], Any] | AsyncMiddleware


class _Tail:
    """The end of a chain: calls the handler itself."""

    __slots__ = ("handler", "handler_name")

    def __init__(self, handler: Callable[[Any], Any], name: str) -> None:
        self.handler = handler
        self.handler_name = name

    def __call__(self, message: Any) -> Any:
        return self.handler(message)


class _AsyncTail(_Tail):
    """The end of an async chain: always returns an awaitable, whatever the handler is."""

    __slots__ = ()

    async def __call__(self, message: Any) -> Any:
        result = self.handler(message)
        if result.__class__ is CoroutineType:
            result = await result
        return result


class _Link:
    """One middleware and the rest of the chain after it."""

    __slots__ = ("handler_name", "middleware", "rest")

    def __init__(self, middleware: Callable[[Any, Any], Any], rest: _Tail | _Link) -> None:
        self.middleware = middleware
        self.rest = rest
        self.handler_name: str = rest.handler_name

    def __call__(self, message: Any) -> Any:
        return self.middleware(message, self.rest)


def _variant(middleware: object, path: Literal["sync", "async"]) -> Callable[..., Any] | None:
    acall = getattr(middleware, "acall", None)
    if path == "async":
        if acall is not None:
            return acall  # type: ignore[no-any-return]
        return middleware if is_async_callable(middleware) else None  # type: ignore[return-value]
    if not callable(middleware) or is_async_callable(middleware):
        return None
    return middleware


def _chain(
    middleware: tuple[object, ...],
    message_class: type,
    handler: Callable[[Any], Any],
    name: str,
    path: Literal["sync", "async"],
    handler_is_async: bool,
) -> Callable[[Any], Any]:
    """Return ``handler`` wrapped in the middleware that apply, outermost first."""
    chosen = []
    for mw in middleware:
        applies = getattr(mw, "applies", None)
        if applies is not None and not applies(message_class):
            continue
        if not handler_is_async and getattr(mw, "async_handlers_only", False):
            continue
        if _variant(mw, path) is not None:
            chosen.append(mw)
    if not chosen:
        return handler
    if (
        path == "async"
        and not handler_is_async
        and all(getattr(mw, "plain_on_async", False) for mw in chosen)
    ):
        # A plain handler on an async path, and middleware whose plain variant does the
        # same work there: the plain chain avoids a coroutine (which would cost the
        # delivery a task per subscriber).
        return _link([_variant(mw, "sync") for mw in chosen], _Tail(handler, name))
    tail = (_AsyncTail if path == "async" else _Tail)(handler, name)
    return _link([_variant(mw, path) for mw in chosen], tail)


def _link(functions: list[Callable[..., Any] | None], tail: _Tail) -> _Tail | _Link:
    link: _Tail | _Link = tail
    for fn in reversed(functions):
        assert fn is not None  # the caller chose middleware that have this variant
        link = _Link(fn, link)
    return link


#: Where a middleware sits in its chain: chains are kept sorted by it (see ``add``).
_Key = tuple[int, int]
_Entries = tuple[tuple[_Key, object], ...]
Kind = Literal["command", "event"]


class MiddlewareStack:
    """The command and event middleware of one bus, outermost first.

    Immutable: adding or removing makes a new stack, so a snapshot can keep the old one
    and a dispatch in progress keeps the chain it started with. Each middleware carries
    the key that fixed its place; ``next_key`` is the next unused one.
    """

    __slots__ = ("_entries", "command", "event", "next_key")

    def __init__(self, command: _Entries = (), event: _Entries = (), next_key: int = 0) -> None:
        self._entries = {"command": command, "event": event}
        self.command = tuple(mw for _, mw in command)
        self.event = tuple(mw for _, mw in event)
        self.next_key = next_key

    def _evolve(self, kind: Kind, entries: _Entries, next_key: int) -> MiddlewareStack:
        both = {**self._entries, kind: entries}
        return MiddlewareStack(both["command"], both["event"], next_key)

    def reserve(self) -> tuple[MiddlewareStack, int]:
        """Return the stack with a slot reserved, and the slot (see ``reserve_middleware_slot``)."""
        return self._evolve("command", self._entries["command"], self.next_key + 1), self.next_key

    def add(self, kind: Kind, middleware: object, slot: int | None) -> tuple[MiddlewareStack, _Key]:
        """Return the stack with ``middleware`` innermost (in ``slot``, if given), and its key."""
        _check(middleware)
        entries = self._entries[kind]
        # Keys are unique and only grow, so without a slot this appends; with one it
        # goes after what was added before the slot was reserved, or into the slot.
        key = (self.next_key, 0) if slot is None else (slot, self.next_key)
        at = bisect.bisect(entries, key, key=operator.itemgetter(0))
        added = (*entries[:at], (key, middleware), *entries[at:])
        return self._evolve(kind, added, self.next_key + 1), key

    def remove(self, kind: Kind, key: _Key, middleware: object) -> MiddlewareStack:
        """Return the stack without the middleware added under ``key`` (if it is still there:
        a reset bus numbers its middleware from 0 again)."""
        kept = tuple(e for e in self._entries[kind] if e[0] != key or e[1] is not middleware)
        return self._evolve(kind, kept, self.next_key)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MiddlewareStack):
            return NotImplemented
        return self.command == other.command and self.event == other.event

    def __hash__(self) -> int:
        return hash((self.command, self.event))

    def wrap_handler(self, entry: Handler, command_class: type) -> Handler:
        """Return ``entry`` with its handler wrapped for both dispatch paths."""
        if not self.command:
            return entry
        args = (self.command, command_class, entry.handler, entry.name)
        return entry.wrapped(
            _chain(*args, "sync", entry.is_async), _chain(*args, "async", entry.is_async)
        )

    def wrap_subscribers(
        self, subscribers: tuple[Subscriber, ...], event_class: type
    ) -> tuple[tuple[Subscriber, ...], tuple[Subscriber, ...]]:
        """Return the subscribers wrapped for ``emit`` and for ``emit_async``."""
        if not self.event:
            return subscribers, subscribers
        sync = tuple(self._wrap_one(s, event_class, "sync") for s in subscribers)
        asyn = tuple(self._wrap_one(s, event_class, "async") for s in subscribers)
        return sync, asyn

    def _wrap_one(
        self, subscriber: Subscriber, event_class: type, path: Literal["sync", "async"]
    ) -> Subscriber:
        handler = _chain(
            self.event, event_class, subscriber.handler, subscriber.name, path, subscriber.is_async
        )
        if handler is subscriber.handler:
            return subscriber
        return subscriber.wrapped(handler)


class Chains:
    """The middleware of one bus, and the one place that forgets the chains built from it.

    ``stack`` is replaced, never changed; each replacement empties the handler table's
    and the subscriber registry's caches (:meth:`use`).
    """

    __slots__ = ("_handlers", "_lock", "_registry", "stack")

    def __init__(
        self, lock: threading.Lock, handlers: HandlerTable, registry: SubscriberRegistry
    ) -> None:
        self._lock = lock
        self._handlers = handlers
        self._registry = registry
        self.stack = MiddlewareStack()

    @property
    def command(self) -> tuple[object, ...]:
        """The command middleware, outermost first."""
        return self.stack.command

    @property
    def event(self) -> tuple[object, ...]:
        """The event middleware, outermost first."""
        return self.stack.event

    def reserve(self) -> int:
        """Reserve a slot (see ``MessageBus.reserve_middleware_slot``)."""
        with self._lock:
            self.stack, slot = self.stack.reserve()
        return slot

    def add(self, kind: Kind, middleware: object, slot: int | None) -> Callable[[], None]:
        """Add ``middleware`` (see ``MessageBus.add_command_middleware``); return its remover."""
        with self._lock:
            stack, key = self.stack.add(kind, middleware, slot)
        self.use(stack)

        def remove() -> None:
            """Remove the middleware (no-op if it is already gone)."""
            with self._lock:
                stack = self.stack.remove(kind, key, middleware)
            self.use(stack)

        remove.__qualname__ = f"remove middleware {callable_name(middleware)}"
        return remove

    def use(self, stack: MiddlewareStack) -> None:
        """Make ``stack`` the middleware and forget every chain built from the old one."""
        with self._lock:
            self.stack = stack
            self._handlers.invalidate()
        self._registry.set_wrap(stack.wrap_subscribers if stack.event else None)


def _check(middleware: object) -> None:
    if _variant(middleware, "sync") is None and _variant(middleware, "async") is None:
        raise TypeError(
            f"middleware must be a function 'mw(message, call_next)', an async def one, or an "
            f"object with an async 'acall(message, call_next)' method; got {middleware!r}"
        )
