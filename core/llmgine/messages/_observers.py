"""Event observers: callables that see every event a bus publishes (for metrics).

The delivery reads one attribute of its own per event, ``observe``, which
:class:`Observers` keeps up to date: ``None`` while there are no observers, else one
callable that calls them all.

An observer that also has a ``subscription_removed(subscription)`` method is told of
every subscription removed, whoever removes it (``unsubscribe()``, a session's end,
``reset()``, a restored snapshot): a metrics plugin keeps what a background queue
counted (its drops) after its subscription went. The subscriber registry holds those
methods; :class:`Observers` keeps them up to date with the observers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import FunctionType, MethodType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._subscribers import Subscription
    from .events import Event

#: the ``subscription_removed`` methods of the observers that have one
Removals = tuple["Callable[[Subscription], Any]", ...]

__all__ = ["Observers", "Removals"]


class Observers:
    """The event observers of one bus (see ``MessageBus.add_event_observer``)."""

    __slots__ = ("_lock", "_observers", "_publish", "_removals")

    def __init__(
        self,
        publish: Callable[[Callable[[Event], Any] | None], None],
        removals: Callable[[Removals], None],
    ) -> None:
        self._lock = threading.Lock()
        self._observers: tuple[Callable[[Event], Any], ...] = ()
        #: hands the delivery what to call with each event (``None``: nobody observes)
        self._publish = publish
        #: hands the registry what to call with each subscription removed
        self._removals = removals

    def add(self, observer: Callable[[Event], Any]) -> Callable[[], None]:
        """Add ``observer``; return the function that removes it again."""
        if not callable(observer):
            raise TypeError(f"add_event_observer() needs a callable, got {observer!r}")
        with self._lock:
            self._observers = (*self._observers, observer)
            self._update()

        def remove() -> None:
            """Stop calling the observer (no-op once removed); one registration only, the
            last, if the same callable was added more than once."""
            with self._lock:
                observers = list(self._observers)
                for i in range(len(observers) - 1, -1, -1):
                    if observers[i] is observer:
                        del observers[i]
                        self._observers = tuple(observers)
                        self._update()
                        return

        return remove

    def state(self) -> tuple[Callable[[Event], Any], ...]:
        """The observers, for a snapshot."""
        return self._observers

    def replace(self, observers: tuple[Callable[[Event], Any], ...]) -> None:
        """Put a snapshot's observers in place of the current ones."""
        with self._lock:
            self._observers = observers
            self._update()

    def _update(self) -> None:
        found = (getattr(o, "subscription_removed", None) for o in self._observers)
        self._removals(tuple(method for method in found if method is not None))
        observers = tuple(_direct(o) for o in self._observers)
        if len(observers) <= 1:
            self._publish(observers[0] if observers else None)
            return

        def observe(event: Event) -> None:
            for observer in observers:
                observer(event)

        self._publish(observe)


def _direct(observer: Callable[[Event], Any]) -> Callable[[Event], Any]:
    """What to call for ``observer``: for an object whose class defines ``__call__`` in
    Python (one with ``subscription_removed``, say), its bound ``__call__``, which costs
    an event half what calling the object does."""
    kind: Any = type(observer)
    if isinstance(kind.__call__, FunctionType):  # (a class's is its metaclass's: not one)
        return MethodType(kind.__call__, observer)
    return observer
