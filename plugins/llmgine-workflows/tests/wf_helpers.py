"""Commands, handlers and builders shared by the llmgine-workflows tests (not a test module)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from llmgine.messages.commands import Command
from llmgine.messages.events import Event
from llmgine_workflows import Step


@attrs.frozen
class Act(Command[Any]):
    """A step command for the tests: ``handle_act`` records it and returns ``value``."""

    step: str
    value: Any = None


@attrs.frozen
class Undo(Command[None]):
    """The compensation of an :class:`Act`."""

    step: str
    result: Any = None


class Recorder:
    """Collects what the tests' handlers did and the events the bus published."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []  # (kind, step, payload)
        self.events: list[Event] = []
        self.fail: dict[str, Exception] = {}  # step -> error its Act handler raises
        self.fail_undo: dict[str, Exception] = {}

    def act(self, command: Act) -> Any:
        self.calls.append(("act", command.step, command.value))
        if command.step in self.fail:
            raise self.fail[command.step]
        return command.value

    def undo(self, command: Undo) -> None:
        self.calls.append(("undo", command.step, command.result))
        if command.step in self.fail_undo:
            raise self.fail_undo[command.step]

    def types(self) -> list[str]:
        return [event.event_type for event in self.events]


def act_step(name: str, value: Any = None, *, undo: bool = True) -> Step:
    """A step dispatching ``Act(name, value)``, undone by ``Undo(name, its result)``."""

    def build(inp: Mapping[str, Any], results: Mapping[str, Any]) -> Act:
        return Act(name, value)

    def compensate(inp: Mapping[str, Any], results: Mapping[str, Any]) -> Undo:
        return Undo(name, results[name])

    if not undo:
        return Step(name, Act, build)
    return Step(name, Act, build, compensate=compensate, compensation=Undo)
