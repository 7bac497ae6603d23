"""How a real ``llmgine mcp serve`` process stops, spoken to in raw JSON-RPC lines.

A client ends the session by closing stdin, then sends SIGTERM if the server has
not exited (the SDK's client after 2 s); a user presses Ctrl-C. Either way the bus
is closed (the plugins' shutdown hooks, async on_close callbacks) and the process
exits, without waiting for stdin to close. Stdout carries the protocol only.
"""

from __future__ import annotations

import json
import signal
import subprocess
from typing import IO, Any

import pytest
from mcp.types import LATEST_PROTOCOL_VERSION
from test_mcp_end_to_end import HERE, LLMGINE, server

pytestmark = pytest.mark.slow  # starts processes


def start(**env: str) -> subprocess.Popen[str]:
    """``llmgine mcp serve mcp_demo_app:toolbox``, its three streams pipes."""
    return subprocess.Popen(
        [LLMGINE, "mcp", "serve", "mcp_demo_app:toolbox"],
        cwd=HERE,
        env={**(server().env or {}), **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def send(stdin: IO[str] | None, message: dict[str, Any]) -> None:
    assert stdin is not None
    stdin.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    stdin.flush()


def initialize(process: subprocess.Popen[str]) -> None:
    """Start the session; once answered, the server serves (its signal handlers too)."""
    params = {
        "protocolVersion": LATEST_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    }
    send(process.stdin, {"id": 1, "method": "initialize", "params": params})
    assert process.stdout is not None
    answer = json.loads(process.stdout.readline())
    assert answer["id"] == 1
    assert "result" in answer
    send(process.stdin, {"method": "notifications/initialized"})


def test_stdout_carries_the_protocol_only_until_the_process_exits() -> None:
    process = start()
    initialize(process)
    # add_numbers' handler prints; the module wrote to sys.__stdout__ and fd 1 on import
    call = {"name": "add_numbers", "arguments": {"a": 2, "b": 3}}
    send(process.stdin, {"id": 2, "method": "tools/call", "params": call})
    out, err = process.communicate(timeout=120)  # (closes stdin: the session ends)
    assert process.returncode == 0
    [answer] = [json.loads(line) for line in out.splitlines()]
    assert answer["id"] == 2
    assert answer["result"]["structuredContent"] == {"ok": True, "result": 5}
    for line in [
        "mcp_demo_app: adding",
        "mcp_demo_app: written to sys.__stdout__ while importing",
        "mcp_demo_app: written to fd 1 while importing",
        "mcp_demo_app: shut down",
    ]:
        assert line in err.splitlines()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_closes_the_bus_and_exits_while_stdin_is_still_open(
    sig: signal.Signals,
) -> None:
    process = start()
    try:
        initialize(process)
        process.send_signal(sig)
        status = process.wait(timeout=120)  # stdin stays open: the signal alone stops it
        assert process.stdout is not None
        assert process.stderr is not None
        out, err = process.stdout.read(), process.stderr.read()
    finally:
        process.kill()
        process.communicate()
    assert status == 128 + sig.value
    assert out == ""
    said = err.splitlines()
    assert f"llmgine mcp: {sig.name}: closing the bus and exiting (again to exit at once)" in said
    assert "mcp_demo_app: shut down" in said  # the plugins' shutdown hooks ran
    assert "mcp_demo_app: closed (async on_close)" in said


def test_a_second_signal_exits_at_once_when_closing_the_bus_hangs() -> None:
    process = start(MCP_DEMO_HANG_ON_CLOSE="1")
    try:
        initialize(process)
        process.send_signal(signal.SIGTERM)
        assert process.stderr is not None
        said = []
        while "mcp_demo_app: hanging in on_close" not in said:
            said.append(process.stderr.readline().rstrip("\n"))
            assert said[-1] or process.poll() is None, said  # (not exited meanwhile)
        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=120)
    finally:
        process.kill()
        process.communicate()
    assert status == 128 + signal.SIGINT.value
