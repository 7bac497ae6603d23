"""Every exception llmgine-redis raises of its own; each is a :class:`MessageBusException`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis
from llmgine.messages.errors import MessageBusException

if TYPE_CHECKING:
    from llmgine.messages.commands import Command
    from llmgine.messages.events import Event

__all__ = [
    "PoolExhausted",
    "RemoteCommandError",
    "RemoteCommandTimeout",
    "TransportError",
    "TransportOutcomeUnknown",
    "WireError",
    "WorkerStartError",
]


class _OSErrorPickle:
    """Pickled as ``cls(*args)``: the core's rebuild without ``__init__`` cannot make an OSError."""

    args: tuple[Any, ...]

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), self.args, vars(self) or None


class TransportError(_OSErrorPickle, MessageBusException, ConnectionError):
    """Redis could not be reached or refused a write, or an event cannot be published.

    The message names the URL and stream, or the event class and what to do about it.
    Raised as is (not as :class:`TransportOutcomeUnknown`) by a publish Redis failed,
    it means nothing of it reached Redis, so a retry cannot duplicate anything.
    """

    def __init__(self, message: str, events: Sequence[Event] = ()) -> None:
        super().__init__(message)
        #: the events of the publish Redis failed, in order (none of them was delivered
        #: locally): publish these same objects again to finish it (empty if the error
        #: is no failed publish, e.g. an event class without a wire name)
        self.events: tuple[Event, ...] = tuple(events)


class TransportOutcomeUnknown(TransportError):
    """A publish or remote command may have reached Redis, in part or whole, or not at all.

    Raised when the error came after sending began (a timeout waiting for the reply,
    the connection lost mid-write, Redis refusing only some entries of a batch, the
    connection lost while waiting for a command's reply): Redis may have appended
    what was sent, or may still append it, so a retry by the caller may duplicate
    it. Retry with the *same objects*: ``events`` (none of them was delivered
    locally), re-emitted (``bus.emit(event)`` each, in order), keep their event ids,
    so consumers skip the copies that did arrive; ``command``, the remote command
    whose outcome is unknown, dispatched again keeps its ``command_id``, by which its
    handler can dedupe.
    """

    def __init__(
        self,
        message: str,
        events: Sequence[Event] = (),
        command: Command[Any] | None = None,
    ) -> None:
        super().__init__(message, events)
        #: the remote command whose outcome is unknown, if it was one
        self.command = command


class WireError(MessageBusException, ValueError):
    """An entry could not be decoded, or a message cannot be encoded as every consumer reads it.

    ``reason`` is a short code (a consumer's dead-letter reason, e.g. ``oversized`` or
    ``invalid-fields``), the message the detail. A publish that raises it sent nothing
    of its batch; retrying the same message cannot succeed.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class RemoteCommandError(MessageBusException):
    """The remote handler of a command raised.

    ``error_type`` is the name of the remote exception's class, ``remote_message``
    its message and ``remote_traceback`` its formatted traceback; no exception
    class is rebuilt from the payload.
    """

    def __init__(self, command: str, error_type: str, message: str, remote_traceback: str) -> None:
        super().__init__(f"remote handler of {command} raised {error_type}: {message}")
        self.command = command
        self.error_type = error_type
        self.remote_message = message
        self.remote_traceback = remote_traceback


class RemoteCommandTimeout(_OSErrorPickle, MessageBusException, TimeoutError):
    """No worker answered a remote command in time: its outcome is unknown.

    It may have run (its reply not stored in time), be running, or still run: it
    stays queued until a worker takes it. Dispatching it again may run it twice
    (handlers with side effects dedupe by ``command.command_id``).
    """


class PoolExhausted(MessageBusException, redis.ConnectionError):
    """Every connection of a pool stayed busy as long as a caller may wait for one.

    A ``redis.ConnectionError``: readers back off and try again, publishers and
    forwarders report it as a :class:`~llmgine_redis.TransportError` (whose
    ``__cause__`` it is). The message names the ``max_connections`` setting.
    """


class WorkerStartError(MessageBusException):
    """A worker (``llmgine worker``) cannot start, so it does not.

    A setting is wrong, the URL is not one redis-py reads, or Redis cannot be reached
    or refuses the login. The message names the setting or the URL (its password
    masked) and what to check; ``llmgine worker`` prints it as its one line.
    """
