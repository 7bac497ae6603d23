"""Every exception llmgine-redis raises of its own; each is a :class:`MessageBusException`."""

from __future__ import annotations

from typing import Any

from llmgine.messages.errors import MessageBusException

__all__ = ["RemoteCommandError", "RemoteCommandTimeout", "TransportError", "WireError"]


class _OSErrorPickle:
    """Pickled as ``cls(*args)``: the core's rebuild without ``__init__`` cannot make an OSError."""

    args: tuple[Any, ...]

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), self.args, vars(self) or None


class TransportError(_OSErrorPickle, MessageBusException, ConnectionError):
    """Redis could not be reached or refused a write, or an event cannot be published.

    The message names the URL and stream, or the event class and what to do about it.
    """


class WireError(MessageBusException, ValueError):
    """An entry could not be decoded; ``reason`` is a short code, the message the detail."""

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
    """No worker answered a remote command in time (it may still run later)."""
