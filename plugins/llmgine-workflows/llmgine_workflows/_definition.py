"""Workflow definitions: a named, ordered list of steps, validated when built.

Everything that can be checked without a bus is checked here, so a broken
definition fails when it is created or registered, not halfway through a run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
from llmgine.messages.commands import Command

from .errors import WorkflowDefinitionError

__all__ = ["Builder", "Step", "Workflow"]

#: ``builder(input, results) -> Command``: ``input`` is the run's input, ``results``
#: maps the names of the steps completed so far to their (JSON) results.
Builder = Callable[[Mapping[str, Any], Mapping[str, Any]], Command[Any]]


def _qualname(tp: type) -> str:
    return f"{tp.__module__}.{tp.__qualname__}"


def _check_command_type(where: str, value: object) -> None:
    if not (isinstance(value, type) and issubclass(value, Command)):
        raise WorkflowDefinitionError(
            f"{where} must be a Command subclass (the type its builder returns), got {value!r}; "
            "pass the class, e.g. Step('charge', ChargeCommand, build_charge)"
        )


def _check_builder(where: str, value: object) -> None:
    if not callable(value):
        raise WorkflowDefinitionError(
            f"{where} must be callable as builder(input, results) -> Command, got {value!r}"
        )
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):  # some builtins have no signature: trust them
        return
    try:
        signature.bind({}, {})
    except TypeError as exc:
        raise WorkflowDefinitionError(
            f"{where} {getattr(value, '__qualname__', value)!r} cannot be called as "
            f"builder(input, results): {exc}; give it two positional parameters"
        ) from None


@attrs.frozen
class Step:
    """One step: dispatch the command ``build(input, results)`` returns.

    ``command`` is the command class ``build`` returns (checked when a run starts
    to have a handler on the bus). ``compensate(input, results)``, if given,
    builds a ``compensation`` command that undoes the step; it runs, in reverse
    order, for every completed step when a later step fails. ``results`` holds
    the result of every completed step by name (for ``compensate``, including
    this step's own).
    """

    name: str
    command: type[Command[Any]]
    build: Builder
    compensate: Builder | None = None
    compensation: type[Command[Any]] | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise WorkflowDefinitionError(
                f"a step's name must be a non-empty string, got {self.name!r}"
            )
        where = f"step {self.name!r}"
        _check_command_type(f"{where}: command", self.command)
        _check_builder(f"{where}: build", self.build)
        if self.compensate is None:
            if self.compensation is not None:
                raise WorkflowDefinitionError(
                    f"{where} names a compensation command ({_qualname(self.compensation)}) but "
                    "no compensate builder; pass compensate=builder(input, results) too"
                )
            return
        _check_builder(f"{where}: compensate", self.compensate)
        if self.compensation is None:
            raise WorkflowDefinitionError(
                f"{where} has a compensate builder but no compensation command type; pass "
                "compensation=TheCommandClass it returns, so its handler can be checked"
            )
        _check_command_type(f"{where}: compensation", self.compensation)

    def command_types(self) -> tuple[type[Command[Any]], ...]:
        """The command classes this step may dispatch (its command, then its compensation)."""
        if self.compensation is None:
            return (self.command,)
        return (self.command, self.compensation)


def _steps(value: Iterable[Step]) -> tuple[Step, ...]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise WorkflowDefinitionError(f"a workflow's steps must be a list of Step, got {value!r}")
    return tuple(value)


@attrs.frozen
class Workflow:
    """A named, ordered list of :class:`Step` s; register it to make it startable.

    Raises :class:`WorkflowDefinitionError` if the name is empty, there are no
    steps, an item is not a :class:`Step`, or two steps share a name.
    """

    name: str
    steps: Sequence[Step] = attrs.field(converter=_steps)
    description: str = ""

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise WorkflowDefinitionError(
                f"a workflow's name must be a non-empty string, got {self.name!r}"
            )
        if not self.steps:
            raise WorkflowDefinitionError(
                f"workflow {self.name!r} has no steps; give it at least one Step"
            )
        seen: set[str] = set()
        for index, step in enumerate(self.steps):
            if not isinstance(step, Step):
                raise WorkflowDefinitionError(
                    f"workflow {self.name!r}: item {index} of its steps is {step!r}, not a "
                    "Step; build each with Step(name, CommandClass, build)"
                )
            if step.name in seen:
                raise WorkflowDefinitionError(
                    f"workflow {self.name!r} has two steps named {step.name!r}; step names "
                    "must be unique within a workflow (results are keyed by them)"
                )
            seen.add(step.name)

    @property
    def step_names(self) -> tuple[str, ...]:
        """The names of the steps, in order."""
        return tuple(step.name for step in self.steps)
