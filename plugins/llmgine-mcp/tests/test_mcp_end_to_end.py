"""A real ``llmgine mcp serve`` process, driven by the MCP SDK's own stdio client.

The server is the ``llmgine`` command of the environment the tests run in (where the
plugin is installed), serving ``mcp_demo_app:toolbox`` from this directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

HERE = Path(__file__).resolve().parent
LLMGINE = str(Path(sys.executable).parent / "llmgine")

pytestmark = pytest.mark.slow  # starts processes


def server(*args: str) -> StdioServerParameters:
    """``llmgine mcp serve mcp_demo_app:toolbox ARGS`` run from this directory."""
    # the test's environment (its PYTHONPATH included), without llmgine's settings, and
    # without PYTHONUNBUFFERED (clients do not set it: the server's stdout is then
    # block-buffered, and what is buffered must not reach the protocol at exit)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LLMGINE_") and k != "PYTHONUNBUFFERED"
    }
    return StdioServerParameters(
        command=LLMGINE,
        args=["mcp", "serve", "mcp_demo_app:toolbox", *args],
        env=env,
        cwd=HERE,
    )


def reply(result: Any) -> dict[str, Any]:
    """The toolbox's answer in a tools/call result; its text content says the same."""
    [content] = result.content
    assert json.loads(content.text) == result.structured_content
    assert result.is_error is (result.structured_content["ok"] is not True)
    answer: dict[str, Any] = result.structured_content
    return answer


@pytest.mark.asyncio
async def test_a_client_lists_the_tools_and_calls_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    errlog = tmp_path / "stderr.txt"
    with errlog.open("w") as stderr:
        async with (
            stdio_client(server("--name", "demo"), errlog=stderr) as (read, write),
            ClientSession(read, write) as session,
        ):
            started = await session.initialize()
            assert started.server_info.name == "demo"

            listed = (await session.list_tools()).tools
            assert [t.name for t in listed] == ["add_numbers", "divide"]
            add = listed[0]
            assert add.description == "Add two whole numbers."
            assert add.input_schema["properties"] == {
                "a": {"type": "integer"},
                "b": {"type": "integer"},
            }
            assert add.input_schema["required"] == ["a", "b"]

            done = await session.call_tool("add_numbers", {"a": 2, "b": 40})
            assert reply(done) == {"ok": True, "result": 42}

            # a plugin's handler, which register_handlers() registered before serving
            assert reply(await session.call_tool("divide", {"x": 1, "y": 4})) == {
                "ok": True,
                "result": 0.25,
            }

            wrong = reply(await session.call_tool("add_numbers", {"a": "ten", "b": 2}))
            assert wrong["ok"] is False
            assert wrong["error"]["type"] == "invalid_arguments"
            assert [f["path"] for f in wrong["error"]["fields"]] == ["a"]
            assert "a:" in wrong["error"]["message"]

            failed = reply(await session.call_tool("divide", {"x": 1, "y": 0}))
            assert failed["error"]["type"] == "handler_error"
            assert "ZeroDivisionError" in failed["error"]["message"]

            unknown = reply(await session.call_tool("multiply", {}))
            assert unknown["error"]["type"] == "unknown_tool"

            # the server lives on after the errors
            assert reply(await session.call_tool("add_numbers", {"a": 1, "b": 1}))["ok"]
    # nothing but the protocol on the server's stdout, to the end (the SDK's client logs
    # an error for every line that is not JSON-RPC)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("mcp")] == []
    logged = errlog.read_text()
    assert "mcp_demo_app: printed while importing" in logged
    assert "mcp_demo_app: written to sys.__stdout__ while importing" in logged
    assert "mcp_demo_app: written to fd 1 while importing" in logged
    assert "mcp_demo_app: adding" in logged
    assert "serving 2 tool(s) of mcp_demo_app:toolbox over stdio: add_numbers, divide" in logged


@pytest.mark.asyncio
async def test_without_register_handlers_a_plugins_command_is_unavailable(
    tmp_path: Path,
) -> None:
    with (tmp_path / "stderr.txt").open("w") as stderr:
        async with (
            stdio_client(server("--no-register-handlers"), errlog=stderr) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            assert reply(await session.call_tool("add_numbers", {"a": 1, "b": 2}))["ok"]
            answer = reply(await session.call_tool("divide", {"x": 1, "y": 2}))
            assert answer["error"]["type"] == "unavailable"


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    """``llmgine ARGV`` from this directory, its stdin closed at once."""
    return subprocess.run(
        [LLMGINE, *argv],
        cwd=HERE,
        env=server().env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_when_stdin_closes_it_closes_the_bus_and_exits_0() -> None:
    done = run("mcp", "serve", "mcp_demo_app:toolbox")
    assert (done.returncode, done.stdout) == (0, "")
    said = done.stderr.splitlines()
    assert "mcp_demo_app: shut down" in said  # the plugins' shutdown hooks
    assert "mcp_demo_app: closed (async on_close)" in said  # awaited, with the sync ones


def test_a_bad_spec_stops_the_command_with_one_line_naming_it() -> None:
    done = run("mcp", "serve", "mcp_demo_app:nothing")
    assert done.returncode == 1
    assert done.stdout == ""  # stdout is the protocol's: nothing but messages goes there
    assert done.stderr.splitlines()[-1] == (
        "llmgine mcp: mcp_demo_app:nothing: module 'mcp_demo_app' has no attribute 'nothing'"
    )
