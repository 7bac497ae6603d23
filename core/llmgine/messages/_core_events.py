"""The concrete core events, imported on first use (see :mod:`llmgine.messages._lazy`).

Read them from :mod:`llmgine.messages.events`, which they name as their module.
Their annotations are evaluated (no ``from __future__ import annotations``) so
that ``typing.get_type_hints`` resolves them whatever module they claim.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import attrs

from ._core_names import EVENT_NAMES
from ._fields import kept, mapping, non_empty_str, optional_id
from ._lazy import published
from .events import Event

if not TYPE_CHECKING:  # (type checkers take the public names defined below instead)
    __all__ = list(EVENT_NAMES)


_now = datetime.now


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
    # The bus fills these two when the event is published: out of == and hash(), so
    # a event kept in a set or as a dict key is still found there afterwards.
    correlation_id: str | None = attrs.field(
        kw_only=True, default=None, validator=optional_id, repr=False, eq=False
    )
    causation_id: str | None = attrs.field(
        kw_only=True, default=None, validator=optional_id, repr=False, eq=False
    )

    @timestamp.validator
    def _aware(self, attribute: "attrs.Attribute[Any]", value: object) -> None:
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


# Sessions ----------------------------------------------------------------------


@attrs.frozen
class SessionStarted(_CoreEvent):
    """A session (``bus.session()``) started: it was entered or first used.

    Its ``session_id`` is the session's. Published before anything was subscribed
    through the session in its ``with`` block, so bus-wide subscribers see it.
    """

    event_type = "session.started"


@attrs.frozen
class SessionEnded(_CoreEvent):
    """A session closed, after everything registered through it was removed.

    Its ``session_id`` is the session's; bus-wide subscribers see it, the session's own
    are gone. ``error`` describes the exception that left its ``with`` block
    (``"ValueError: bad input"``), ``None`` if none did.
    """

    event_type = "session.ended"
    error: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(str))
    )


# System ------------------------------------------------------------------------

Severity = Literal["debug", "info", "warning", "error", "critical"]
SEVERITIES: tuple[Severity, ...] = ("debug", "info", "warning", "error", "critical")


def _severity(instance: object, attribute: "attrs.Attribute[Any]", value: object) -> None:
    if value not in SEVERITIES:
        raise ValueError(
            f"SystemEvent.severity must be one of {', '.join(SEVERITIES)}; got {value!r}"
        )


def _component(instance: object, attribute: "attrs.Attribute[Any]", value: object) -> None:
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

    #: the pattern every type name of the class matches (its ``event_type`` is decided
    #: per instance): what a transport checks its own patterns against
    event_type_pattern: ClassVar[str] = "system.*.*"

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


published("llmgine.messages.events", globals(), EVENT_NAMES)
