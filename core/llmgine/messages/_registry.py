"""The subscriptions of one bus and the per-event-type cache of who receives what.

Subscriptions are kept as an immutable tuple that is replaced (under a lock) on
every change, together with an empty lookup cache. ``emit`` reads the cache
first and the tuple second, so a lookup racing with a (un)subscribe in another
thread at worst fills a cache that was already thrown away; it never sees a
half-updated list. A session's own subscriptions are kept the same way, per
session, beside the bus-wide ones.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._naming import callable_name, is_async_callable
from ._subscribers import MakeBackground, Plan, Subscriber, Subscription, Wrap, identity, matcher

if TYPE_CHECKING:
    from ._observers import Removals

__all__ = ["State", "SubscriberRegistry"]

#: Cache entries past this count are dropped (instance-named types can be many).
_CACHE_LIMIT = 4096


#: a registry's subscriptions: (the bus-wide ones, {session id: that session's own})
State = tuple[tuple[Subscription, ...], dict[str, tuple[Subscription, ...]]]


class SubscriberRegistry:
    """All subscriptions of one bus, and the cached :class:`Plan` per event type.

    A session's own subscriptions are kept apart, indexed by session id, so that an
    event of one session costs the same however many sessions are open.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = itertools.count()
        #: the bus-wide subscriptions, in subscription order
        self.subscriptions: tuple[Subscription, ...] = ()
        #: session id -> that session's own subscriptions, in subscription order
        self.sessions: dict[str, tuple[Subscription, ...]] = {}
        #: event class -> event type name -> Plan; replaced, never mutated in place, on
        #: change. Two plain lookups (``cache[cls][name]``) cost less than building and
        #: hashing a (class, name) key for every event.
        self.cache: dict[type, dict[str, Plan]] = {}
        #: session id -> event class -> type name -> (the bus-wide plan it was merged
        #: with, the session's plan): stale once that bus-wide plan was replaced
        self.session_cache: dict[str, dict[type, dict[str, tuple[Plan, Plan]]]] = {}
        #: while the bus has event middleware: wraps the subscribers of a new plan
        self.wrap: Wrap | None = None
        #: told of every subscription removed: the event observers' ``subscription_removed``
        self.removal_observers: Removals = ()
        self._names = _Names()

    def invalidate(self) -> None:
        """Forget every cached plan (after a subscription or the middleware changed)."""
        self.cache = {}

    def set_wrap(self, wrap: Wrap | None) -> None:
        """Wrap the subscribers of every plan built from now on with ``wrap`` (or not)."""
        with self._lock:
            self.wrap = wrap
            self.invalidate()

    def observe_removals(self, observers: Removals) -> None:
        """Call each of ``observers`` with every subscription removed from now on."""
        self.removal_observers = observers

    def state(self) -> State:
        """Every subscription, for a snapshot (see :meth:`replace`)."""
        return self.subscriptions, dict(self.sessions)

    def replace(self, state: State) -> None:
        """Put the subscriptions of ``state`` in place of the current ones (a restore)."""
        with self._lock:
            before = self.all()
            self.subscriptions, sessions = state
            self.sessions = dict(sessions)
            self.session_cache = {}
            now = self.all()
            self._names = _Names(now)
            self.invalidate()
            gone = set(before).difference(now)
            _tell_background(gone, active=False, forget=True)
            _tell_background(now, active=True)
        self._removed(sorted(gone, key=_seq))

    def all(self) -> list[Subscription]:
        """Every subscription, the sessions' too, in subscription order."""
        found = list(self.subscriptions)
        for own in list(self.sessions.values()):  # (a copy: sessions come and go meanwhile)
            found.extend(own)
        found.sort(key=_seq)
        return found

    def add(
        self,
        key: str | type,
        handler: Callable[[Any], Any],
        *,
        priority: int = 0,
        session_id: str | None = None,
        background: MakeBackground | None = None,
    ) -> Subscription:
        """Subscribe ``handler`` to ``key`` and return the handle."""
        matches = matcher(key)
        if not callable(handler):
            raise TypeError(f"subscriber for {key!r} must be callable, got {handler!r}")
        priority = _priority(priority)
        is_async = is_async_callable(handler)
        base = callable_name(handler)
        with self._lock:
            subscriber = Subscriber(handler, is_async, self._names.take(handler, base))
            if background is not None:
                subscriber = background(subscriber)
            seq = next(self._seq)
            sub = Subscription(self, key, handler, subscriber, seq, matches, priority, session_id)
            if session_id is None:
                self.subscriptions = (*self.subscriptions, sub)
                self.invalidate()
            else:
                self.sessions[session_id] = (*self.sessions.get(session_id, ()), sub)
                self.session_cache.pop(session_id, None)
        return sub

    def remove(self, sub: Subscription) -> None:
        """Remove a subscription (no-op if it is already gone)."""
        with self._lock:
            if sub.session_id is None:
                if sub not in self.subscriptions:
                    return
                self.subscriptions = tuple(s for s in self.subscriptions if s is not sub)
                self.invalidate()
            else:
                own = self.sessions.get(sub.session_id, ())
                if sub not in own:
                    return
                rest = tuple(s for s in own if s is not sub)
                if rest:
                    self.sessions[sub.session_id] = rest
                else:
                    del self.sessions[sub.session_id]
                self.session_cache.pop(sub.session_id, None)
            self._names.release(sub.handler)
            _tell_background((sub,), active=False)
        self._removed((sub,))

    def remove_session(self, session_id: str) -> list[Subscription]:
        """Remove every subscription of session ``session_id``; return them."""
        with self._lock:
            own = self.sessions.pop(session_id, ())
            for sub in own:
                self._names.release(sub.handler)
            self.session_cache.pop(session_id, None)
            _tell_background(own, active=False)
        self._removed(own)
        return list(own)

    def _removed(self, subscriptions: Iterable[Subscription]) -> None:
        """Tell those who asked (``on_removed``, the removal observers) that
        ``subscriptions`` are gone (called outside the lock: a callback may unsubscribe
        or subscribe again)."""
        observers = self.removal_observers
        for sub in subscriptions:
            if sub.on_removed is not None:
                sub.on_removed(sub)
            for observer in observers:
                observer(sub)

    def is_active(self, sub: Subscription) -> bool:
        """Whether ``sub`` is one of the current subscriptions."""
        if sub.session_id is None:
            return sub in self.subscriptions
        return sub in self.sessions.get(sub.session_id, ())

    def plan(self, event_class: type, name: str, session_id: str | None = None) -> Plan:
        """Return (and cache) the subscribers of events of ``event_class`` named ``name``
        (published in session ``session_id``: the session's own subscribers too)."""
        cache = self.cache  # read before the subscriptions: see the module docstring
        by_name = cache.get(event_class)
        if by_name is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            by_name = cache.setdefault(event_class, {})
        plan = by_name.get(name)
        if plan is None:
            plan = self._build(event_class, name, self.subscriptions)
            if len(by_name) >= _CACHE_LIMIT:
                by_name.clear()
            by_name[name] = plan
        if session_id is not None:
            return self.session_plan(plan, event_class, name, session_id)
        return plan

    def session_plan(self, base: Plan, event_class: type, name: str, session_id: str) -> Plan:
        """``base``, the bus-wide plan, merged with session ``session_id``'s own subscribers
        (``base`` itself if it has none); cached until ``base`` or the session's change."""
        by_class = self.session_cache.get(session_id)
        if by_class is not None:
            try:
                found = by_class[event_class][name]
            except KeyError:
                pass
            else:
                if found[0] is base:
                    return found[1]
        own = self.sessions.get(session_id)  # (after the cache, as in plan())
        if own is None:
            return base
        plan = self._build(event_class, name, (*self.subscriptions, *own))
        if by_class is None:
            # A session's cache is dropped (under the lock) whenever its subscriptions
            # change: install a new one only if they are still those the plan was built
            # from, or a stale plan would outlive the change (or the session).
            with self._lock:
                if self.sessions.get(session_id) is not own:
                    return plan
                by_class = self.session_cache.setdefault(session_id, {})
        by_name = by_class.setdefault(event_class, {})
        if len(by_name) >= _CACHE_LIMIT:
            by_name.clear()
        by_name[name] = (base, plan)
        return plan

    def _build(self, event_class: type, name: str, subscriptions: tuple[Subscription, ...]) -> Plan:
        matching = [sub for sub in subscriptions if sub.matches(event_class, name)]
        matching.sort(key=_order)  # higher priority first; then subscription order
        chosen: list[Subscriber] = []
        seen: set[object] = set()
        for sub in matching:  # once each, at its highest priority
            key = identity(sub.handler)
            if key not in seen:
                seen.add(key)
                chosen.append(sub.subscriber)
        if self.wrap is None:
            return Plan(tuple(chosen))
        # Middleware wraps a background subscriber where it runs, not its queue's put.
        sync, asyn = self.wrap(tuple(s for s in chosen if s.background is None), event_class)
        wrapped, awrapped = iter(sync), iter(asyn)
        return Plan(
            tuple(s if s.background is not None else next(wrapped) for s in chosen),
            tuple(s if s.background is not None else next(awrapped) for s in chosen),
        )


class _Names:
    """The unique names of the live subscribers (see :class:`Subscriber`), kept up to
    date as they come and go, so naming one costs the same however many there are."""

    def __init__(self, subscriptions: list[Subscription] | None = None) -> None:
        self.by_identity: dict[object, list[Any]] = {}  # identity -> [name, how many subs]
        self.in_use: set[str] = set()
        self.next_suffix: dict[str, int] = {}
        for sub in subscriptions or ():
            entry = self.by_identity.setdefault(identity(sub.handler), [sub.subscriber.name, 0])
            entry[1] += 1
            self.in_use.add(sub.subscriber.name)

    def take(self, handler: Callable[[Any], Any], base: str) -> str:
        """The name of ``handler`` (the one it has already, if subscribed)."""
        key = identity(handler)
        entry = self.by_identity.get(key)
        if entry is None:
            name = base
            if name in self.in_use:
                n = self.next_suffix.get(base, 2)
                while f"{base}#{n}" in self.in_use:
                    n += 1
                self.next_suffix[base] = n + 1
                name = f"{base}#{n}"
            entry = self.by_identity[key] = [name, 0]
            self.in_use.add(name)
        entry[1] += 1
        return str(entry[0])

    def release(self, handler: Callable[[Any], Any]) -> None:
        """One subscription of ``handler`` is gone."""
        key = identity(handler)
        entry = self.by_identity.get(key)
        if entry is not None:
            entry[1] -= 1
            if entry[1] <= 0:
                del self.by_identity[key]
                self.in_use.discard(entry[0])


def _priority(priority: object) -> int:
    """``priority`` as a plain int (an ``IntEnum`` member goes); a clear error otherwise."""
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(
            f"priority must be an int (higher runs first, default 0), got {priority!r}"
            + (" (a bool)" if isinstance(priority, bool) else "")
        )
    return int(priority)


def _tell_background(
    subscriptions: Iterable[Subscription], *, active: bool, forget: bool = False
) -> None:
    """Tell the background queues of ``subscriptions`` whether they are subscribed
    (``forget``: removed by a reset or restore, which isolates what comes after)."""
    for sub in subscriptions:
        queue = sub.subscriber.background
        if queue is not None:
            queue.set_active(active, forget=forget)


def _seq(sub: Subscription) -> int:
    return sub.seq


def _order(sub: Subscription) -> tuple[int, int]:
    return -sub.priority, sub.seq
