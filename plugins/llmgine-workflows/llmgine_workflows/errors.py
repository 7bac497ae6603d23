"""The workflows plugin's exceptions (public). All derive from :class:`WorkflowError`, an
llmgine :class:`~llmgine.messages.errors.MessageBusException`."""

from __future__ import annotations

from llmgine.messages.errors import MessageBusException

__all__ = [
    "MissingHandlerError",
    "RunNotFoundError",
    "RunStoreError",
    "WorkflowDefinitionError",
    "WorkflowError",
    "WorkflowNotFoundError",
    "WorkflowRunError",
]


class WorkflowError(MessageBusException):
    """Base class of every error raised by llmgine-workflows."""


class WorkflowDefinitionError(WorkflowError, ValueError):
    """A workflow or step definition is invalid (raised when it is built or registered)."""


class WorkflowNotFoundError(WorkflowError, LookupError):
    """No workflow of that name is registered."""


class RunNotFoundError(WorkflowError, LookupError):
    """No run of that id is in the run store."""


class RunStoreError(WorkflowError):
    """The run store's file cannot be used: missing (to read), a directory, unreadable, or
    not a workflow database. The message names the file, the problem and what to check."""


class MissingHandlerError(WorkflowError, LookupError):
    """A step's command (or compensation) has no handler on the bus the run starts on."""


class WorkflowRunError(WorkflowError, RuntimeError):
    """A run cannot be started or resumed (bad input, changed definition, run owned elsewhere)."""
