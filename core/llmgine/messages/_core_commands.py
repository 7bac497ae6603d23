"""The concrete core commands, imported on first use (see :mod:`llmgine.messages._lazy`).

Read them from :mod:`llmgine.messages.commands`, which they name as their module.
Their annotations are evaluated (no ``from __future__ import annotations``) so
that ``typing.get_type_hints`` resolves them whatever module they claim.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ._core_names import COMMAND_NAMES
from ._fields import kept, mapping, non_empty_str, optional_id
from ._lazy import published
from .commands import Command, R_co

if not TYPE_CHECKING:  # (type checkers take the public names defined below instead)
    __all__ = list(COMMAND_NAMES)


@attrs.frozen
class _CoreCommand(Command[R_co]):
    """A frozen attrs command whose ids can also be given to the constructor."""

    command_id: str = attrs.field(kw_only=True, default=kept("command_id"), validator=non_empty_str)
    # The bus fills these two when the command is published: out of == and hash(), so
    # a command kept in a set or as a dict key is still found there afterwards.
    correlation_id: str | None = attrs.field(
        kw_only=True, default=None, validator=optional_id, repr=False, eq=False
    )
    causation_id: str | None = attrs.field(
        kw_only=True, default=None, validator=optional_id, repr=False, eq=False
    )


@attrs.frozen
class CreateResourceCommand(_CoreCommand[str]):
    """Create a resource of ``resource_type`` from ``resource_data``; the handler returns its id."""

    resource_type: str = attrs.field(validator=non_empty_str)
    resource_data: Mapping[str, Any] = attrs.field(validator=mapping)


@attrs.frozen
class UpdateResourceCommand(_CoreCommand[None]):
    """Replace the data of the existing resource ``resource_id``."""

    resource_id: str = attrs.field(validator=non_empty_str)
    resource_type: str = attrs.field(validator=non_empty_str)
    resource_data: Mapping[str, Any] = attrs.field(validator=mapping)


@attrs.frozen
class DeleteResourceCommand(_CoreCommand[None]):
    """Delete the existing resource ``resource_id``."""

    resource_id: str = attrs.field(validator=non_empty_str)
    resource_type: str = attrs.field(validator=non_empty_str)


@attrs.frozen
class StartWorkflowCommand(_CoreCommand[str]):
    """Start a run of workflow ``workflow_name`` with ``input``; the handler returns the run id."""

    workflow_name: str = attrs.field(validator=non_empty_str)
    input: Mapping[str, Any] = attrs.field(factory=dict, validator=mapping)


@attrs.frozen
class ResumeWorkflowCommand(_CoreCommand[str]):
    """Resume the interrupted workflow run ``run_id`` from its last completed step."""

    run_id: str = attrs.field(validator=non_empty_str)


published("llmgine.messages.commands", globals(), COMMAND_NAMES)
