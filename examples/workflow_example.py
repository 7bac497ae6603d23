"""An LLM-flavoured workflow: ask a (fake) model, run the tool it asks for, ask it again.

Run it from the repository root (after ``python3 dev.py test`` has made ``.venv``)::

    .venv/bin/python examples/workflow_example.py

The first question completes. The second asks about a city the weather tool does
not know: the tool step fails, so the token budget reserved by the first step is
released (its compensation) and the run ends with ``workflow.failed``. Set
``LLMGINE_WORKFLOWS_DB=/tmp/runs.sqlite3`` to keep the runs, then inspect them with
``.venv/bin/llmgine workflows list`` and ``.venv/bin/llmgine workflows show RUN_ID``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import Any

import attrs
import llmgine
from llmgine.messages.bus import message_bus
from llmgine.messages.commands import Command, StartWorkflowCommand
from llmgine.messages.events import Event
from llmgine.plugins import register_handlers, register_plugin
from llmgine_workflows import Step, Workflow, engine_for

# Commands ------------------------------------------------------------------------


@attrs.frozen
class ReserveTokensCommand(Command[str]):
    """Reserve ``tokens`` of the token budget; returns a reservation id."""

    tokens: int


@attrs.frozen
class ReleaseTokensCommand(Command[None]):
    """Give a reservation back (the compensation of ReserveTokensCommand)."""

    reservation_id: str


@attrs.frozen
class AskModelCommand(Command[dict[str, Any]]):
    """Send ``question`` (and any tool result) to the model; returns its reply."""

    question: str
    tool_result: Mapping[str, Any] | None = None


@attrs.frozen
class RunToolCommand(Command[dict[str, Any]]):
    """Run tool ``name`` with ``arguments``; returns what it found."""

    name: str
    arguments: Mapping[str, Any]


# Handlers (a fake model and a fake tool) -------------------------------------------

BUDGET = {"available": 1000}
RESERVATIONS: dict[str, int] = {}
WEATHER = {"Paris": {"sky": "sunny", "celsius": 21}, "Oslo": {"sky": "snow", "celsius": -3}}


def reserve_tokens(command: ReserveTokensCommand) -> str:
    BUDGET["available"] -= command.tokens
    reservation_id = f"reservation-{len(RESERVATIONS) + 1}"
    RESERVATIONS[reservation_id] = command.tokens
    return reservation_id


def release_tokens(command: ReleaseTokensCommand) -> None:
    BUDGET["available"] += RESERVATIONS.pop(command.reservation_id)


async def fake_model(command: AskModelCommand) -> dict[str, Any]:
    await asyncio.sleep(0)  # where a real model call would await the network
    if command.tool_result is None:
        city = command.question.rstrip("?").split()[-1]
        return {"tool_call": {"name": "weather", "arguments": {"city": city}}}
    sky, celsius = command.tool_result["sky"], command.tool_result["celsius"]
    return {"answer": f"Expect {sky} skies and {celsius} °C."}


def weather_tool(command: RunToolCommand) -> dict[str, Any]:
    city = command.arguments["city"]
    if city not in WEATHER:
        raise LookupError(f"the weather tool knows no city called {city!r}")
    return WEATHER[city]


# The workflow: each step builds its command from the input and earlier results -----

answer_question = Workflow(
    "answer-question",
    [
        Step(
            "reserve",
            ReserveTokensCommand,
            lambda inp, res: ReserveTokensCommand(300),
            compensate=lambda inp, res: ReleaseTokensCommand(res["reserve"]),
            compensation=ReleaseTokensCommand,
        ),
        Step("plan", AskModelCommand, lambda inp, res: AskModelCommand(inp["question"])),
        Step(
            "tool",
            RunToolCommand,
            lambda inp, res: RunToolCommand(
                res["plan"]["tool_call"]["name"], res["plan"]["tool_call"]["arguments"]
            ),
        ),
        Step(
            "answer",
            AskModelCommand,
            lambda inp, res: AskModelCommand(inp["question"], tool_result=res["tool"]),
        ),
    ],
    description="answer a question with one tool call",
)


# This module is a plugin: handlers through register_commands, the workflow through
# register_workflows (optional, so the module also loads without llmgine-workflows).


@llmgine.hookimpl
def register_commands(register: Any) -> None:
    register(ReserveTokensCommand, reserve_tokens)
    register(ReleaseTokensCommand, release_tokens)
    register(AskModelCommand, fake_model)
    register(RunToolCommand, weather_tool)


@llmgine.hookimpl(optionalhook=True)
def register_workflows(register: Any) -> None:
    register(answer_question)


def show(event: Event) -> None:
    step = getattr(event, "step_name", "")
    detail = getattr(event, "result", None) or getattr(event, "error_message", "")
    print(f"  {event.event_type:<24} {step:<8} {detail}")


async def main() -> int:
    register_plugin(sys.modules[__name__], "workflow-example")
    register_handlers(message_bus)
    message_bus.subscribe_event("workflow.*", show)
    engine = engine_for(message_bus)
    for question in ("What is the weather in Paris?", "What is the weather in Atlantis?"):
        print(question)
        # The dispatch returns when the run has finished (completed or compensated).
        run_id = await message_bus.dispatch_async(
            StartWorkflowCommand("answer-question", {"question": question})
        )
        run = engine.get_run(run_id)
        outcome = run.results["answer"]["answer"] if run.status == "completed" else run.status
        print(f"  -> run {run_id}: {outcome}; token budget left: {BUDGET['available']}\n")
    await message_bus.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
