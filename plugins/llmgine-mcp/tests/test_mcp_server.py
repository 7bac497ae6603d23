"""The server in-process, with the SDK's in-memory client: what ``tools/list`` and
``tools/call`` answer for a toolbox, and ``tool_result`` for each kind of answer."""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import dataclass
from typing import Any

import pytest
from llmgine.messages import Command, MessageBus
from llmgine.tools import Toolbox
from llmgine_mcp import build_server, tool_result
from mcp import Client


@dataclass
class Greet(Command[str]):
    """Greet someone by name."""

    name: str
    times: int = 1


@dataclass
class Crash(Command[None]):
    """Always fails."""


def crash(command: Crash) -> None:
    raise RuntimeError("the disk is full")


@dataclass
class Report(Command[str]):
    """Run the report with command-line options, e.g. "--year 2024"."""

    options: str


def report(command: Report) -> str:
    parser = argparse.ArgumentParser(prog="report")
    parser.add_argument("--year", type=int, required=True)
    return f"report for {parser.parse_args(shlex.split(command.options)).year}"


@pytest.fixture
def toolbox() -> Toolbox:
    bus = MessageBus.isolated()

    async def greet(command: Greet) -> str:
        return " ".join([f"Hello {command.name}"] * command.times)

    bus.register_command(Greet, greet)
    bus.register_command(Crash, crash)
    bus.register_command(Report, report)
    return Toolbox([Greet, Crash, Report], bus=bus)


def test_tool_result_carries_the_answer_as_structured_content_and_json_text() -> None:
    ok = tool_result({"ok": True, "result": {"é": [1, 2.5, None]}})
    assert (ok.is_error, ok.structured_content) == (
        False,
        {"ok": True, "result": {"é": [1, 2.5, None]}},
    )
    [text] = ok.content
    assert text.type == "text"
    assert text.text == '{"ok": true, "result": {"é": [1, 2.5, null]}}'
    error = {"ok": False, "error": {"type": "handler_error", "message": "boom"}}
    failed = tool_result(error)
    assert failed.is_error
    assert json.loads(failed.content[0].text) == failed.structured_content == error


@pytest.mark.asyncio
async def test_tools_list_is_the_toolboxs_mcp_definitions_unchanged(toolbox: Toolbox) -> None:
    async with Client(build_server(toolbox, name="greeter")) as client:
        assert client.server_info is not None
        assert client.server_info.name == "greeter"
        listed = await client.list_tools()
    wire = [t.model_dump(by_alias=True, exclude_none=True) for t in listed.tools]
    assert wire == toolbox.definitions("mcp")


async def call(toolbox: Toolbox, name: str, arguments: dict[str, Any] | None) -> dict[str, Any]:
    async with Client(build_server(toolbox)) as client:
        result = await client.call_tool(name, arguments)
    assert result.is_error is (result.structured_content["ok"] is not True)
    answer: dict[str, Any] = result.structured_content
    return answer


@pytest.mark.asyncio
async def test_tools_call_answers_what_call_async_answers(toolbox: Toolbox) -> None:
    for name, arguments in [
        ("greet", {"name": "Ada", "times": 2}),
        ("greet", {"name": "Ada", "times": "2"}),
        ("greet", {"name": "Ada", "command_id": "mine"}),
        ("greet", None),
        ("crash", {}),
        ("nope", {}),
    ]:
        assert await call(toolbox, name, arguments) == await toolbox.call_async(name, arguments)
    assert await call(toolbox, "greet", {"name": "Ada", "times": 2}) == {
        "ok": True,
        "result": "Hello Ada Hello Ada",
    }
    invalid = await call(toolbox, "greet", {"times": "2"})
    assert invalid["error"]["type"] == "invalid_arguments"
    assert sorted(f["path"] for f in invalid["error"]["fields"]) == ["name", "times"]
    crashed = await call(toolbox, "crash", {})
    assert crashed["error"]["type"] == "handler_error"
    assert "RuntimeError: the disk is full" in crashed["error"]["message"]


@pytest.mark.asyncio
async def test_a_handler_that_exits_fails_the_call_and_the_server_lives_on(
    toolbox: Toolbox, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):  # the toolbox lets it through: the host decides
        await toolbox.call_async("report", {"options": "--month 5"})
    async with Client(build_server(toolbox)) as client:
        exited = await client.call_tool("report", {"options": "--month 5"})
        assert exited.is_error
        assert exited.structured_content == {
            "ok": False,
            "error": {
                "type": "handler_error",
                "message": "tool 'report' failed: SystemExit: 2 (the handler exited)",
            },
        }
        after = await client.call_tool("report", {"options": "--year 2024"})
    assert after.structured_content == {"ok": True, "result": "report for 2024"}
    assert "the following arguments are required: --year" in capsys.readouterr().err
