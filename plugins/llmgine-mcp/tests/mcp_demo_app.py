"""The application the end-to-end tests serve: ``llmgine mcp serve mcp_demo_app:toolbox``.

Imported only by the server process the tests start (it registers a plugin in that
process's plugin host), never by the tests themselves.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

import llmgine
from llmgine.messages import Command, MessageBus
from llmgine.plugins import Register, register_plugin
from llmgine.tools import Toolbox

print("mcp_demo_app: printed while importing")  # must reach stderr, not the protocol
# past sys.stdout: the real stdout (block-buffered on a pipe, flushed late) and fd 1 itself
if sys.__stdout__ is not None:
    sys.__stdout__.write("mcp_demo_app: written to sys.__stdout__ while importing\n")
os.write(1, b"mcp_demo_app: written to fd 1 while importing\n")

bus = MessageBus.isolated()


@dataclass
class AddNumbers(Command[int]):
    """Add two whole numbers."""

    a: int
    b: int


@dataclass
class Divide(Command[float]):
    """Divide x by y."""

    x: float
    y: float


async def add_numbers(command: AddNumbers) -> int:
    print("mcp_demo_app: adding")  # a handler's print while serving: stderr too
    return command.a + command.b


def divide(command: Divide) -> float:
    return command.x / command.y  # y == 0: the handler's error, for the model to read


# AddNumbers' handler is the module's own; Divide's arrives the way an installed plugin's
# would, through register_handlers(), which `llmgine mcp serve` calls on the bus
bus.register_command(AddNumbers, add_numbers)


@llmgine.hookimpl
def register_commands(register: Register, bus: MessageBus) -> None:
    """Handle Divide (a plugin's hook, this module being registered as the plugin)."""
    register(Divide, divide)


@llmgine.hookimpl
def shutdown(bus: MessageBus) -> None:
    """Say so when the bus closes (as ``llmgine mcp serve`` does once the client is gone)."""
    print("mcp_demo_app: shut down", file=sys.stderr)


async def closed() -> None:
    """An ``async def`` on_close callback: ``llmgine mcp serve`` awaits it (bus.aclose)."""
    await asyncio.sleep(0)
    print("mcp_demo_app: closed (async on_close)", file=sys.stderr)


async def hang() -> None:
    """An on_close callback that never returns (the second-signal test sets the variable)."""
    print("mcp_demo_app: hanging in on_close", file=sys.stderr, flush=True)
    await asyncio.Event().wait()


bus.on_close(closed)
if os.environ.get("MCP_DEMO_HANG_ON_CLOSE"):
    bus.on_close(hang)
register_plugin(sys.modules[__name__], "mcp-demo")

toolbox = Toolbox([AddNumbers, Divide], bus=bus)
