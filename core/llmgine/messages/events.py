"""Events: records of what happened. Any number of subscribers react to each.

:class:`Event` is the base of every event; like :class:`~llmgine.messages.commands.Command`
it is a plain class so that ``@dataclass`` and attrs subclasses both work, and
every instance gets a unique ``event_id`` and a timezone-aware ``timestamp``
when it is created.

Each event class has an ``event_type`` name (dot-separated segments, such as
``"resource.created"``) that subscribers match on. A class that sets none
inherits its nearest base's; a class whose bases set none gets its own class
name (``class OrderPlaced(Event)`` has type ``"OrderPlaced"``).
:class:`SystemEvent` is the one type whose name depends on the instance:
``"system.<component>.<severity>"``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Self, SupportsIndex

from . import _ids
from ._core_names import EVENT_NAMES
from ._fields import refuse_bus_fields, slot_setter
from ._lazy import lazy_names
from ._patterns import validate_type_name
from ._reduce import keep_slots

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime, tzinfo

    # The concrete core events, built on first use: _core_names lists them.
    from ._core_events import *  # noqa: F403


class _EventSlots:
    """Where every event keeps its ids and creation time (see :class:`Event`)."""

    # ``_llmgine_time`` is what Event's ``timestamp`` property reads (see there).
    __slots__ = (
        "__weakref__",
        "_llmgine_time",
        "causation_id",
        "correlation_id",
        "event_id",
        "session_id",
    )

    # creation time: an int of ns since the epoch until first read, then a datetime
    # (Any: typing.get_type_hints() must resolve it without importing datetime)
    _llmgine_time: Any


class Event(_EventSlots):
    """Base class of every event.

    Attributes set on every instance (the bus fills the last three when the event
    is queued or emitted, unless they were set already):

    * ``event_id``: unique string id.
    * ``timestamp``: creation time, a timezone-aware UTC ``datetime``.
    * ``correlation_id``: id of the first message of the chain this one belongs to
      (its own ``event_id`` for an event emitted on its own).
    * ``causation_id``: id of the command or event whose handling produced it.
    * ``session_id``: id of the session it was published in (``None`` outside sessions;
      see :meth:`MessageBus.session <llmgine.messages.bus.MessageBus.session>`).
    """

    __slots__ = ()

    event_type: str = "event"
    event_id: str
    correlation_id: str | None
    causation_id: str | None
    session_id: str | None

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        self = _new(cls)
        # The clock reading only: ``timestamp`` turns it into a datetime when first
        # read, which many events never are (datetime.now(UTC) costs 3x time_ns()).
        if cls.__setattr__ is _plain_setattr:
            # plain stores cost a fraction of the slot setters' calls
            self.event_id = _ids.prefix + str(next(_ids.counter))  # new_id(), inlined
            self._llmgine_time = _time_ns()
            self.correlation_id = None
            self.causation_id = None
            self.session_id = None
        else:  # a frozen class (or one with setattr hooks): the slots' own setters
            _set_event_id(self, _ids.new_id())
            _set_time(self, _time_ns())
            _set_correlation_id(self, None)
            _set_causation_id(self, None)
            _set_session_id(self, None)
        return self

    def __reduce_ex__(self, protocol: SupportsIndex) -> str | tuple[Any, ...]:
        # pickles and copies keep the ids, links and creation time (see _reduce.py)
        return keep_slots(super().__reduce_ex__(protocol), self, Event, _SAVED)

    @property
    def timestamp(self) -> datetime:
        """Creation time, a timezone-aware UTC ``datetime``."""
        return _creation_time(self)

    @timestamp.setter
    def timestamp(self, value: datetime) -> None:
        _set_time(self, value)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        refuse_bus_fields(cls)
        for klass in cls.__mro__:
            if klass is Event:
                cls.event_type = cls.__name__
                break
            declared = vars(klass).get("event_type")
            if isinstance(declared, str):
                validate_type_name(declared, what=f"{cls.__qualname__}.event_type")
                break
            if declared is not None:  # an attrs field computed per instance (SystemEvent)
                break


_new = object.__new__
_plain_setattr = object.__setattr__
_time_ns = time.time_ns
_set_event_id = slot_setter(Event, "event_id")
_get_time: Callable[[Event], Any] = vars(_EventSlots)["_llmgine_time"].__get__
_set_time = slot_setter(Event, "_llmgine_time")
_set_correlation_id = slot_setter(Event, "correlation_id")
_set_causation_id = slot_setter(Event, "causation_id")
_set_session_id = slot_setter(Event, "session_id")
_SAVED = ("event_id", "_llmgine_time", "correlation_id", "causation_id", "session_id")


def _creation_time(event: Event) -> datetime:
    value = _get_time(event)
    if value.__class__ is not int:
        return value  # type: ignore[no-any-return]
    # the clock reading taken at creation, in ns
    fromtimestamp, utc = _datetime or _import_datetime()
    when = fromtimestamp(value / 1e9, utc)
    _set_time(event, when)  # the same value whoever reads it first
    return when


#: (datetime.fromtimestamp, UTC), bound by the first timestamp read: many processes
#: read none, and importing datetime costs more than most of the core's own modules.
_datetime: tuple[Callable[[float, tzinfo], datetime], tzinfo] | None = None


def _import_datetime() -> tuple[Callable[[float, tzinfo], datetime], tzinfo]:
    global _datetime
    from datetime import UTC, datetime

    _datetime = (datetime.fromtimestamp, UTC)
    return _datetime


if not TYPE_CHECKING:  # (a module __getattr__ would hide misspelled names from mypy)
    # Everything but Event is built on first use (see messages/_lazy.py); __all__ is
    # "Event" and then _core_names.EVENT_NAMES.
    __getattr__, __dir__ = lazy_names(
        __name__, "llmgine.messages._core_events", EVENT_NAMES, own=["Event"]
    )
