"""A separate process for the resume tests (not a test module): ``python wf_child.py MODE``.

It registers itself as a plugin that handles ``Record`` and declares the
three-step workflow ``three``; each ``Record`` handled is appended to the file
``$WF_LOG``. With ``$WF_HANG`` set, step two writes ``$WF_READY`` and sleeps, so
the test can kill the process there.

Modes: ``start`` dispatches ``StartWorkflowCommand('three', ...)`` with command id
``$WF_RUN_ID``; ``cli ARGS...`` runs ``llmgine ARGS...`` in this process.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import llmgine
from llmgine.cli import main as cli_main
from llmgine.messages.bus import message_bus
from llmgine.messages.commands import Command, StartWorkflowCommand
from llmgine.plugins import register_handlers, register_plugin
from llmgine_workflows import Step, Workflow


@attrs.frozen
class Record(Command[str]):
    """Append ``step`` to the log; returns ``text`` marked as done."""

    step: str
    text: str


def handle_record(command: Record) -> str:
    with Path(os.environ["WF_LOG"]).open("a") as log:
        log.write(command.step + "\n")
    if command.step == "two" and os.environ.get("WF_HANG"):
        Path(os.environ["WF_READY"]).write_text("ready")
        time.sleep(120)
    return f"{command.text}>{command.step}"


def build(
    step: str, previous: str | None
) -> Callable[[Mapping[str, Any], Mapping[str, Any]], Record]:
    def builder(inp: Mapping[str, Any], results: Mapping[str, Any]) -> Record:
        return Record(step, results[previous] if previous else inp["text"])

    return builder


@llmgine.hookimpl
def register_commands(register: Any) -> None:
    register(Record, handle_record)


@llmgine.hookimpl(optionalhook=True)
def register_workflows(register: Any) -> None:
    register(
        Workflow(
            "three",
            [
                Step("one", Record, build("one", None)),
                Step("two", Record, build("two", "one")),
                Step("three", Record, build("three", "two")),
            ],
        )
    )


def main(argv: list[str]) -> int:
    register_plugin(sys.modules[__name__], "wfchild")
    if argv[0] == "start":
        register_handlers(message_bus)
        run_id = message_bus.dispatch(
            StartWorkflowCommand("three", {"text": "go"}, command_id=os.environ["WF_RUN_ID"])
        )
        print(run_id)
        return 0
    return cli_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
