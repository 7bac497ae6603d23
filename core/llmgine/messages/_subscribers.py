"""Event subscriptions and the per-event-type cache of who receives what.

Subscriptions are kept as an immutable tuple that is replaced (under a lock) on
every change, together with an empty lookup cache. ``emit`` reads the cache
first and the tuple second, so a lookup racing with a (un)subscribe in another
thread at worst fills a cache that was already thrown away; it never sees a
half-updated list.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from types import MethodType
from typing import Any

from ._naming import callable_name, is_async_callable, type_name
from ._patterns import compile_pattern, is_pattern, validate_type_name

__all__ = ["Plan", "Subscriber", "SubscriberRegistry", "Subscription", "Wrap"]

#: Wraps a plan's subscribers in event middleware: (for emit, for emit_async).
Wrap = Callable[
    [tuple["Subscriber", ...], type],
    tuple[tuple["Subscriber", ...], tuple["Subscriber", ...]],
]

#: Cache entries past this count are dropped (instance-named types can be many).
_CACHE_LIMIT = 4096


class Subscriber:
    """A subscriber as delivery sees it: the callable, whether it is async, its name.

    ``name`` is unique among a bus's live subscriptions (a transport retries failed
    subscribers by name): a second callable with the same readable name gets ``#2``
    appended, a third ``#3``, and so on; the same callable subscribed again keeps its name.
    """

    __slots__ = ("handler", "is_async", "name")

    def __init__(self, handler: Callable[[Any], Any], is_async: bool, name: str) -> None:
        self.handler = handler
        self.is_async = is_async
        self.name = name

    def wrapped(self, handler: Callable[[Any], Any]) -> Subscriber:
        """The same subscriber (name, kind), calling ``handler`` (its middleware chain)."""
        return Subscriber(handler, self.is_async, self.name)


class Plan:
    """The subscribers of one (event class, event type name), in subscription order."""

    __slots__ = ("asubscribers", "async_subscribers", "handlers", "starts_tasks", "subscribers")

    def __init__(
        self,
        subscribers: tuple[Subscriber, ...],
        asubscribers: tuple[Subscriber, ...] | None = None,
    ) -> None:
        self.subscribers = subscribers
        #: what ``emit_async`` calls: the same subscribers, wrapped in the async middleware
        self.asubscribers = subscribers if asubscribers is None else asubscribers
        self.handlers = tuple(s.handler for s in subscribers)
        self.async_subscribers = tuple(s for s in subscribers if s.is_async)
        #: whether ``emit_async`` starts a task for some of them (async middleware can
        #: make a plain subscriber's chain a coroutine)
        self.starts_tasks = any(s.is_async for s in self.asubscribers)


class Subscription:
    """Returned by ``subscribe_event``: call :meth:`unsubscribe` (or use ``with``) to stop."""

    __slots__ = ("_matches", "_registry", "_seq", "key", "subscriber")

    def __init__(
        self,
        registry: SubscriberRegistry,
        key: str | type,
        subscriber: Subscriber,
        seq: int,
        matches: Callable[[type, str], bool],
    ) -> None:
        #: what was subscribed to: an event type name, a pattern, or an event class
        self.key = key
        self.subscriber = subscriber
        self._seq = seq
        self._matches = matches
        self._registry = registry

    @property
    def handler(self) -> Callable[[Any], Any]:
        """The subscribed callable."""
        return self.subscriber.handler

    @property
    def active(self) -> bool:
        """Whether the subscription still receives events."""
        return self in self._registry.subscriptions

    def unsubscribe(self) -> None:
        """Stop receiving events. Calling it again does nothing."""
        self._registry.remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unsubscribe()

    def __repr__(self) -> str:
        key = type_name(self.key) if isinstance(self.key, type) else repr(self.key)
        return f"<Subscription {key} -> {self.subscriber.name}>"


class SubscriberRegistry:
    """All subscriptions of one bus, and the cached :class:`Plan` per event type."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self.subscriptions: tuple[Subscription, ...] = ()
        #: event class -> event type name -> Plan; replaced, never mutated in place, on
        #: change. Two plain lookups (``cache[cls][name]``) cost less than building and
        #: hashing a (class, name) key for every event.
        self.cache: dict[type, dict[str, Plan]] = {}
        #: while the bus has event middleware: wraps the subscribers of a new plan
        self.wrap: Wrap | None = None

    def invalidate(self) -> None:
        """Forget every cached plan (after a subscription or the middleware changed)."""
        self.cache = {}

    def set_wrap(self, wrap: Wrap | None) -> None:
        """Wrap the subscribers of every plan built from now on with ``wrap`` (or not)."""
        with self._lock:
            self.wrap = wrap
            self.invalidate()

    def replace(self, subscriptions: tuple[Subscription, ...]) -> None:
        """Put ``subscriptions`` in place of the current ones (a snapshot's restore)."""
        with self._lock:
            self.subscriptions = subscriptions
            self.invalidate()

    def add(self, key: str | type, handler: Callable[[Any], Any]) -> Subscription:
        """Subscribe ``handler`` to ``key`` and return the handle."""
        matches = _matcher(key)
        if not callable(handler):
            raise TypeError(f"subscriber for {key!r} must be callable, got {handler!r}")
        is_async = is_async_callable(handler)
        base = callable_name(handler)
        with self._lock:
            subscriber = Subscriber(handler, is_async, self._unique_name(handler, base))
            sub = Subscription(self, key, subscriber, next(self._seq), matches)
            self.subscriptions = (*self.subscriptions, sub)
            self.invalidate()
        return sub

    def _unique_name(self, handler: Callable[[Any], Any], base: str) -> str:
        """``base``, or ``base#N`` if another live subscriber has it (call under the lock)."""
        same = _identity(handler)
        taken = set()
        for sub in self.subscriptions:
            if _identity(sub.subscriber.handler) == same:
                return sub.subscriber.name
            taken.add(sub.subscriber.name)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}#{n}"
        return name

    def remove(self, sub: Subscription) -> None:
        """Remove a subscription (no-op if it is already gone)."""
        with self._lock:
            if sub in self.subscriptions:
                self.subscriptions = tuple(s for s in self.subscriptions if s is not sub)
                self.invalidate()

    def plan(self, event_class: type, name: str) -> Plan:
        """Return (and cache) the subscribers of events of ``event_class`` named ``name``."""
        cache = self.cache  # read before the subscriptions: see the module docstring
        by_name = cache.get(event_class)
        if by_name is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            by_name = cache.setdefault(event_class, {})
        plan = by_name.get(name)
        if plan is None:
            plan = self._build(event_class, name)
            if len(by_name) >= _CACHE_LIMIT:
                by_name.clear()
            by_name[name] = plan
        return plan

    def _build(self, event_class: type, name: str) -> Plan:
        chosen: list[Subscriber] = []
        seen: set[object] = set()
        for sub in self.subscriptions:  # already in subscription order
            if sub._matches(event_class, name):
                identity = _identity(sub.subscriber.handler)
                if identity not in seen:
                    seen.add(identity)
                    chosen.append(sub.subscriber)
        if self.wrap is not None:
            return Plan(*self.wrap(tuple(chosen), event_class))
        return Plan(tuple(chosen))


def _identity(handler: Callable[[Any], Any]) -> object:
    """What makes two subscribed callables the same subscriber.

    Identity, not ``==``: distinct callable objects that compare equal (dataclass
    instances, say) are distinct subscribers. A bound method is made anew on every
    attribute access, so it counts as its object and function.
    """
    if isinstance(handler, MethodType):
        return (id(handler.__self__), handler.__func__)
    return id(handler)


def _matcher(key: object) -> Callable[[type, str], bool]:
    from .events import Event

    if isinstance(key, type):
        if not issubclass(key, Event):
            raise TypeError(
                f"can only subscribe to Event subclasses, got {type_name(key)}; "
                "commands are handled with register_command()"
            )
        return lambda cls, name: issubclass(cls, key)
    if isinstance(key, str):
        if is_pattern(key):
            predicate = compile_pattern(key)
            return lambda cls, name: predicate(name)
        validate_type_name(key)
        return lambda cls, name: name == key
    raise TypeError(
        f"subscribe_event() takes an event type name, a pattern or an Event subclass, got {key!r}"
    )
