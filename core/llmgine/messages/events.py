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
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Self

import attrs

from ._fields import kept, mapping, non_empty_str, optional_id, slot_setter
from ._ids import new_id
from ._patterns import validate_type_name

__all__ = [
    "Event",
    "ResourceCreatedEvent",
    "ResourceDeletedEvent",
    "ResourceEvent",
    "ResourceUpdatedEvent",
    "SEVERITIES",
    "Severity",
    "SystemEvent",
    "WorkflowCompletedEvent",
    "WorkflowEvent",
    "WorkflowFailedEvent",
    "WorkflowStartedEvent",
    "WorkflowStepCompletedEvent",
]


class _EventSlots:
    """Where every event keeps its ids and creation time (see :class:`Event`)."""

    # ``_llmgine_time`` is what Event's ``timestamp`` property reads (see there).
    __slots__ = ("__weakref__", "_llmgine_time", "causation_id", "correlation_id", "event_id")

    _llmgine_time: int | datetime  # creation time: ns since the epoch until first read


class Event(_EventSlots):
    """Base class of every event.

    Attributes set on every instance (the bus fills the last two when the event
    is queued or emitted, unless they were set already):

    * ``event_id``: unique string id.
    * ``timestamp``: creation time, a timezone-aware UTC ``datetime``.
    * ``correlation_id``: id of the first message of the chain this one belongs to
      (its own ``event_id`` for an event emitted on its own).
    * ``causation_id``: id of the command or event whose handling produced it.
    """

    __slots__ = ()

    event_type: str = "event"
    event_id: str
    correlation_id: str | None
    causation_id: str | None

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        self = _new(cls)
        # The clock reading only: ``timestamp`` turns it into a datetime when first
        # read, which many events never are (datetime.now(UTC) costs 3x time_ns()).
        if cls.__setattr__ is _plain_setattr:
            # plain stores cost a fraction of the slot setters' calls
            self.event_id = new_id()
            self._llmgine_time = _time_ns()
            self.correlation_id = None
            self.causation_id = None
        else:  # a frozen class (or one with setattr hooks): the slots' own setters
            _set_event_id(self, new_id())
            _set_time(self, _time_ns())
            _set_correlation_id(self, None)
            _set_causation_id(self, None)
        return self

    @property
    def timestamp(self) -> datetime:
        """Creation time, a timezone-aware UTC ``datetime``."""
        return _creation_time(self)

    @timestamp.setter
    def timestamp(self, value: datetime) -> None:
        _set_time(self, value)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
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
_now = datetime.now
_fromtimestamp = datetime.fromtimestamp
_set_event_id = slot_setter(Event, "event_id")
_get_time: Callable[[Event], int | datetime] = vars(_EventSlots)["_llmgine_time"].__get__
_set_time = slot_setter(Event, "_llmgine_time")
_set_correlation_id = slot_setter(Event, "correlation_id")
_set_causation_id = slot_setter(Event, "causation_id")


def _creation_time(event: Event) -> datetime:
    value = _get_time(event)
    if isinstance(value, datetime):
        return value
    # the clock reading taken at creation, in ns
    when = _fromtimestamp(value / 1e9, UTC)
    _set_time(event, when)  # the same value whoever reads it first
    return when


def _now_utc() -> datetime:
    return _now(UTC)


@attrs.frozen
class _CoreEvent(Event):
    """A frozen attrs event whose ids and timestamp can also be given to the constructor."""

    event_id: str = attrs.field(kw_only=True, default=kept("event_id"), validator=non_empty_str)
    timestamp: datetime = attrs.field(
        # A field of its own (a slot that hides Event's property): the core events
        # take the time as a datetime at once, so it can be given and validated.
        kw_only=True,
        factory=_now_utc,
        repr=False,
    )
    correlation_id: str | None = attrs.field(
        kw_only=True, default=None, validator=optional_id, repr=False
    )
    causation_id: str | None = attrs.field(
        kw_only=True, default=None, validator=optional_id, repr=False
    )

    @timestamp.validator
    def _aware(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise TypeError(
                f"{type(self).__name__}.timestamp must be a timezone-aware datetime, got {value!r}"
            )


# Resources ---------------------------------------------------------------------


@attrs.frozen
class ResourceEvent(_CoreEvent):
    """Base of the resource events; subscribe to the class to get all three."""

    event_type = "resource"
    resource_id: str = attrs.field(validator=non_empty_str)
    resource_type: str = attrs.field(validator=non_empty_str)


@attrs.frozen
class ResourceCreatedEvent(ResourceEvent):
    """A resource was created with ``resource_data``."""

    event_type = "resource.created"
    resource_data: Mapping[str, Any] = attrs.field(factory=dict, validator=mapping)


@attrs.frozen
class ResourceUpdatedEvent(ResourceEvent):
    """A resource's data was replaced by ``resource_data``."""

    event_type = "resource.updated"
    resource_data: Mapping[str, Any] = attrs.field(factory=dict, validator=mapping)


@attrs.frozen
class ResourceDeletedEvent(ResourceEvent):
    """A resource was deleted."""

    event_type = "resource.deleted"


# Workflows ---------------------------------------------------------------------


@attrs.frozen
class WorkflowEvent(_CoreEvent):
    """Base of the workflow events: ``run_id`` identifies one run of ``workflow_name``."""

    event_type = "workflow"
    workflow_name: str = attrs.field(validator=non_empty_str)
    run_id: str = attrs.field(validator=non_empty_str)


@attrs.frozen
class WorkflowStartedEvent(WorkflowEvent):
    """A workflow run started with ``input``."""

    event_type = "workflow.started"
    input: Mapping[str, Any] = attrs.field(factory=dict, validator=mapping)


@attrs.frozen
class WorkflowStepCompletedEvent(WorkflowEvent):
    """Step ``step_name`` (0-based ``step_index``) of a run completed with ``result``."""

    event_type = "workflow.step_completed"
    step_name: str = attrs.field(validator=non_empty_str)
    step_index: int = attrs.field(validator=attrs.validators.instance_of(int))
    result: Any = None


@attrs.frozen
class WorkflowCompletedEvent(WorkflowEvent):
    """A run completed; ``results`` maps each step name to its result."""

    event_type = "workflow.completed"
    results: Mapping[str, Any] = attrs.field(factory=dict, validator=mapping)


@attrs.frozen
class WorkflowFailedEvent(WorkflowEvent):
    """A run failed at ``step_name`` with an error of ``error_type`` (compensations have run)."""

    event_type = "workflow.failed"
    step_name: str = attrs.field(validator=non_empty_str)
    error_type: str = attrs.field(validator=non_empty_str)
    error_message: str = attrs.field(validator=attrs.validators.instance_of(str))


# System ------------------------------------------------------------------------

Severity = Literal["debug", "info", "warning", "error", "critical"]
SEVERITIES: tuple[Severity, ...] = ("debug", "info", "warning", "error", "critical")


def _severity(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in SEVERITIES:
        raise ValueError(
            f"SystemEvent.severity must be one of {', '.join(SEVERITIES)}; got {value!r}"
        )


def _component(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    non_empty_str(instance, attribute, value)
    if "." in str(value) or "*" in str(value):
        raise ValueError(
            f"SystemEvent.component must be one segment (no '.' or '*'); got {value!r}"
        )


@attrs.frozen
class SystemEvent(_CoreEvent):
    """Something happened in ``component`` at ``severity``.

    Its type name is ``system.<component>.<severity>``, so ``"system.*.error"``
    matches every error. ``severity`` is one of :data:`SEVERITIES`.
    """

    component: str = attrs.field(validator=_component)
    severity: Severity = attrs.field(validator=_severity)
    message: str = attrs.field(validator=attrs.validators.instance_of(str))
    details: Mapping[str, Any] = attrs.field(factory=dict, validator=mapping, repr=False)
    event_type: str = attrs.field(
        init=False,
        default=attrs.Factory(
            lambda self: f"system.{self.component}.{self.severity}", takes_self=True
        ),
    )
