"""The message bus's exceptions. All derive from :class:`MessageBusException`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from .._errors import reduce_error

if TYPE_CHECKING:
    from ._subscribers import Subscriber
    from .events import Event

__all__ = [
    "AsyncHandlerError",
    "BackgroundError",
    "BackgroundOverflowError",
    "CommandHandlerNotFound",
    "DuplicateHandlerError",
    "EventCascadeError",
    "FieldError",
    "InvalidPatternError",
    "MessageBusException",
    "MessageValidationError",
    "NoActiveScopeError",
    "SessionError",
    "SubscriberBaseExceptionError",
    "SubscriberError",
]


class MessageBusException(Exception):
    """Base class of every error raised by the message bus."""

    def __reduce__(self) -> tuple[Any, ...]:
        # (a process pool's worker sends it back pickled: see llmgine/_errors.py)
        return reduce_error(self)


class CommandHandlerNotFound(MessageBusException, LookupError):
    """No handler is registered for the dispatched command's type or any of its bases."""

    def __init__(self, command_type: type, hint: str | None = None) -> None:
        from ._naming import type_name

        self.command_type = command_type
        super().__init__(
            f"no handler registered for command {type_name(command_type)}; "
            + (
                hint
                or "register one with message_bus.register_command(), or install the plugin "
                "that handles it and call register_handlers()"
            )
        )


class DuplicateHandlerError(MessageBusException, ValueError):
    """A second handler was registered for a command type (each command has exactly one)."""


class InvalidPatternError(MessageBusException, ValueError):
    """An event type name or subscription pattern is malformed."""


class NoActiveScopeError(MessageBusException, RuntimeError):
    """``add_pending_event`` was called outside a command handler or event subscriber."""


class SessionError(MessageBusException, RuntimeError):
    """A session was opened under an id that is already open on its bus, or used after
    it closed (see :meth:`MessageBus.session <llmgine.messages.bus.MessageBus.session>`)."""


class AsyncHandlerError(MessageBusException, TypeError):
    """A synchronous ``dispatch``/``emit`` met an ``async def`` handler or subscriber."""


class EventCascadeError(MessageBusException, RecursionError):
    """Events causing events went deeper than the bus's ``max_cascade_depth``."""


class BackgroundError(MessageBusException, RuntimeError):
    """Background delivery cannot go on as asked: a background subscriber would wait for
    itself (``drain()`` inside one, or publishing to its own full queue), or its events
    wait for an event loop that is no longer running."""


class BackgroundOverflowError(BackgroundError):
    """A background subscriber's full queue dropped an event (``overflow="drop_oldest"`` or
    ``"drop_newest"``). A transport's ``deliver`` lists it as that subscriber's failure, so
    the event is not acknowledged (unless the subscription said ``at_most_once=True``)."""


class FieldError(NamedTuple):
    """One bad field of a :class:`MessageValidationError`."""

    #: where, from the top of the input: ``"items[2].qty"`` (``""``: the object itself)
    path: str
    #: what is wrong: ``'expected integer, got "ten"'``
    message: str


class MessageValidationError(MessageBusException, ValueError):
    """Input did not make a valid message (:func:`~llmgine.messages.conversion.from_json`).

    ``message_class`` is the class asked for; ``errors`` lists every bad field, with
    its path and what is wrong with it, in input order.
    """

    message_class: type
    errors: tuple[FieldError, ...]

    def __init__(self, message_class: type, errors: Sequence[FieldError]) -> None:
        self.message_class = message_class
        self.errors = tuple(errors)
        count = len(self.errors)
        name = getattr(message_class, "__qualname__", None) or repr(message_class)
        lines = [f"invalid {name}: {count} error{'s' * (count != 1)}"]
        shown = self.errors[:_SHOWN]
        lines += [f"  {path or '(the object)'}: {message}" for path, message in shown]
        if count > _SHOWN:
            lines.append(f"  ... and {count - _SHOWN} more (see .errors)")
        super().__init__("\n".join(lines))


#: how many of a MessageValidationError's errors its message lists
_SHOWN = 20


class SubscriberError(MessageBusException, ExceptionGroup):
    """Strict mode: one or more subscribers of an event raised (an ``ExceptionGroup``).

    Raised after every subscriber of the event has run. ``event`` is the event and
    ``subscribers`` names the failed subscribers, in the order of ``exceptions``.
    """

    event: Event
    subscribers: tuple[str, ...]
    # (the class default: an unpickled copy has none of its own)
    _failures: Sequence[tuple[Subscriber, Exception]] = ()

    def __new__(
        cls,
        event: Event,
        failures: Sequence[tuple[str, Exception]],
        *,
        failed: Sequence[tuple[Subscriber, Exception]] = (),
    ) -> SubscriberError:
        self = super().__new__(cls, _summary(event, failures), [exc for _, exc in failures])
        self.event = event
        self.subscribers = tuple(name for name, _ in failures)
        self._failures = tuple(failed)
        return self

    def __init__(
        self,
        event: Event,
        failures: Sequence[tuple[str, Exception]],
        *,
        failed: Sequence[tuple[Subscriber, Exception]] = (),
    ) -> None:
        super().__init__(_summary(event, failures), [exc for _, exc in failures])

    @property
    def failed(self) -> tuple[tuple[Subscriber, Exception], ...]:
        """The failed subscribers themselves with their exceptions, as the bus gave them.

        A transport's ``deliver`` turns the error back into its return value with
        them, as a subscriber may be gone from the bus by then (one that unsubscribed
        itself before failing). Empty when the error was not raised by a bus.
        """
        return tuple(self._failures)

    def __reduce__(self) -> tuple[Any, ...]:
        rebuild, args, state = reduce_error(self)
        # without the failed subscribers themselves: the bus's own, for this process
        state = {k: v for k, v in (state or {}).items() if k != "_failures"}
        return rebuild, args, state


class SubscriberBaseExceptionError(MessageBusException, RuntimeError):
    """A subscriber raised a ``BaseException`` that is not an ``Exception`` (say a custom
    subclass, or ``GeneratorExit``).

    The bus isolates it like any subscriber failure and reports it as this error, as
    an ``ExceptionGroup`` (:class:`SubscriberError`) cannot hold it; the original is
    its ``__cause__``. Only ``KeyboardInterrupt``, ``SystemExit`` and
    ``asyncio.CancelledError`` stop a delivery instead.
    """

    def __init__(self, subscriber: str, exception: BaseException) -> None:
        self.subscriber = subscriber
        super().__init__(
            f"subscriber {subscriber} raised {exception!r}, a BaseException that is not an "
            "Exception; the bus treats it as that subscriber's failure. Raise an Exception "
            "subclass for errors (only KeyboardInterrupt, SystemExit and cancellation stop "
            "a delivery)"
        )
        self.__cause__ = exception


def _summary(event: Event, failures: Sequence[tuple[str, Exception]]) -> str:
    names = ", ".join(name for name, _ in failures)
    return f"{len(failures)} subscriber(s) of event {event.event_type!r} failed: {names}"
