"""Event subscriptions, and the plans (who receives an event, in order) built from them.

The registry that keeps a bus's subscriptions and caches its plans is in
:mod:`~llmgine.messages._registry`.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MethodType
from typing import TYPE_CHECKING, Any, Protocol

from ._naming import type_name
from ._patterns import compile_pattern, is_pattern, validate_type_name

if TYPE_CHECKING:
    from ._registry import SubscriberRegistry

__all__ = [
    "Background",
    "MakeBackground",
    "Plan",
    "Subscriber",
    "Subscription",
    "Wrap",
    "identity",
    "matcher",
]

#: Wraps a plan's subscribers in event middleware: (for emit, for emit_async).
Wrap = Callable[
    [tuple["Subscriber", ...], type],
    tuple[tuple["Subscriber", ...], tuple["Subscriber", ...]],
]


class Subscriber:
    """A subscriber as delivery sees it: the callable, whether it is async, its name.

    ``name`` is unique among a bus's live subscriptions (a transport retries failed
    subscribers by name): a second callable with the same readable name gets ``#2``
    appended, a third ``#3``, and so on; the same callable subscribed again keeps its name.
    A background subscriber's ``handler`` puts the event on its queue, and
    ``background`` is that queue (``None`` for every other subscriber).
    """

    __slots__ = ("background", "handler", "is_async", "name")

    def __init__(
        self,
        handler: Callable[[Any], Any],
        is_async: bool,
        name: str,
        background: Background | None = None,
    ) -> None:
        self.handler = handler
        self.is_async = is_async
        self.name = name
        self.background = background

    def wrapped(self, handler: Callable[[Any], Any]) -> Subscriber:
        """The same subscriber (name, kind), calling ``handler`` (its middleware chain)."""
        return Subscriber(handler, self.is_async, self.name, self.background)


class Background(Protocol):
    """What the registry knows of a background subscriber's queue (see ``_background``)."""

    #: how many events the queue dropped (overflow ``"drop_oldest"``/``"drop_newest"``)
    dropped: int
    #: whether a transport acknowledges an event without waiting for this subscriber
    at_most_once: bool

    @property
    def pending(self) -> int:
        """How many events wait on the queue."""

    def set_active(self, active: bool, *, forget: bool = False) -> None:
        """Told by the registry when its subscription is removed (``False``: the worker
        handles what is queued, then stops) or put back by a restore (``True``).
        ``forget``: removed by ``reset()``/``restore()``, which discard what is queued."""


#: Makes a background subscriber: given the subscriber of the user's callable, the one
#: delivery calls instead (which puts the event on a queue: see ``_background``).
MakeBackground = Callable[[Subscriber], Subscriber]


class Plan:
    """The subscribers of one (event class, event type name), in delivery order."""

    __slots__ = (
        "asubscribers",
        "async_subscribers",
        "background",
        "handlers",
        "starts_tasks",
        "subscribers",
        "waits_for",
    )

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
        #: the background subscribers that a transport's ``deliver`` waits for (all but
        #: ``at_most_once`` ones): a consumer on an event loop should use ``deliver_async``
        self.waits_for = tuple(
            s for s in subscribers if s.background is not None and not s.background.at_most_once
        )
        #: every background subscriber (``at_most_once`` ones too): a consumer on an event
        #: loop delivers with ``deliver_async`` if there is any, whose put onto a full
        #: ``"wait"`` queue of an ``async def`` one awaits room instead of failing
        self.background = tuple(s for s in subscribers if s.background is not None)


class Subscription:
    """Returned by ``subscribe_event``: call :meth:`unsubscribe` (or use ``with``) to stop."""

    __slots__ = (
        "_registry",
        "handler",
        "key",
        "matches",
        "on_removed",
        "priority",
        "seq",
        "session_id",
        "subscriber",
    )

    def __init__(
        self,
        registry: SubscriberRegistry,
        key: str | type,
        handler: Callable[[Any], Any],
        subscriber: Subscriber,
        seq: int,
        matches: Callable[[type, str], bool],
        priority: int,
        session_id: str | None,
    ) -> None:
        #: what was subscribed to: an event type name, a pattern, or an event class
        self.key = key
        #: the subscribed callable
        self.handler = handler
        self.subscriber = subscriber
        #: higher runs first; equal priorities run in subscription order
        self.priority = priority
        #: the session whose events alone it receives (``None``: every event)
        self.session_id = session_id
        #: its place in subscription order (across the bus and its sessions)
        self.seq = seq
        #: ``matches(event class, type name)``: whether an event is one it receives
        self.matches = matches
        #: called with the subscription once it is removed, whoever removed it (its
        #: ``unsubscribe()``, its session's end, ``reset()``, a restored snapshot)
        self.on_removed: Callable[[Subscription], object] | None = None
        self._registry = registry

    @property
    def background(self) -> bool:
        """Whether the subscriber runs in the background, off its own queue."""
        return self.subscriber.background is not None

    @property
    def dropped(self) -> int:
        """How many events a background subscriber's full queue dropped (0 for others)."""
        queue = self.subscriber.background
        return 0 if queue is None else queue.dropped

    @property
    def pending(self) -> int:
        """How many events wait on a background subscriber's queue (0 for others)."""
        queue = self.subscriber.background
        return 0 if queue is None else queue.pending

    @property
    def active(self) -> bool:
        """Whether the subscription still receives events."""
        return self._registry.is_active(self)

    def unsubscribe(self) -> None:
        """Stop receiving events. Calling it again does nothing."""
        self._registry.remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unsubscribe()

    def __repr__(self) -> str:
        key = type_name(self.key) if isinstance(self.key, type) else repr(self.key)
        extra = f" priority={self.priority}" if self.priority else ""
        if self.session_id is not None:
            extra += f" session={self.session_id!r}"
        if self.background:
            extra += " background"
        return f"<Subscription {key} -> {self.subscriber.name}{extra}>"


def identity(handler: Callable[[Any], Any]) -> object:
    """What makes two subscribed callables the same subscriber.

    Identity, not ``==``: distinct callable objects that compare equal (dataclass
    instances, say) are distinct subscribers. A bound method is made anew on every
    attribute access, so it counts as its object and function.
    """
    if isinstance(handler, MethodType):
        return (id(handler.__self__), handler.__func__)
    return id(handler)


def matcher(key: object) -> Callable[[type, str], bool]:
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
