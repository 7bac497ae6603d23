"""The MCP server of a toolbox: ``tools/list`` and ``tools/call`` on the SDK's low-level Server.

The low-level ``mcp.server.lowlevel.Server`` takes the tool definitions as they are,
so the input schema the toolbox derived from the command class is what the client
sees (the SDK's high-level ``MCPServer`` would derive one again from a function's
signature). It validates nothing itself: the toolbox does, and answers every call.
"""

from __future__ import annotations

import json
import logging
from importlib.metadata import version
from typing import Any

import mcp.types as types
from llmgine.tools import Toolbox
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from ._config import DEFAULT_NAME
from ._stdio import protocol_stdout, stdout_to_stderr

__all__ = ["DEFAULT_NAME", "build_server", "serve", "serve_on", "tool_result"]

_log = logging.getLogger("llmgine_mcp")


def tool_result(reply: dict[str, Any]) -> types.CallToolResult:
    """The ``tools/call`` result of a toolbox's answer ``reply``.

    The answer, ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": {...}}``,
    is both the structured content and, as JSON text, the one text content block (for
    clients that read only text); ``isError`` is set when ``ok`` is false, so the
    model reads the error (which fields were wrong and why, or the handler's message)
    and can call again.
    """
    text = json.dumps(reply, ensure_ascii=False, allow_nan=False)
    return types.CallToolResult(
        content=[types.TextContent(text=text)],
        structured_content=reply,
        is_error=reply.get("ok") is not True,
    )


def build_server(toolbox: Toolbox, *, name: str = DEFAULT_NAME) -> Server[Any]:
    """An MCP server (the SDK's low-level ``Server``) offering the tools of ``toolbox``.

    ``tools/list`` answers ``toolbox.definitions("mcp")``; ``tools/call`` answers
    :func:`tool_result` of ``await toolbox.call_async(name, arguments)``, so each call
    is validated and dispatched on ``toolbox.bus`` like any other (middleware,
    pending events and tracing apply). Run it with :func:`serve` over stdio, or with
    any transport of the SDK (e.g. ``server.streamable_http_app()``).

    A handler that raises ``SystemExit`` (``sys.exit()``, argparse rejecting an
    option) fails the call with a ``"handler_error"`` answer instead of stopping the
    server; ``KeyboardInterrupt`` and cancellation propagate.
    """
    tools = [types.Tool.model_validate(d) for d in toolbox.definitions("mcp")]

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            reply = await toolbox.call_async(params.name, params.arguments)
        except SystemExit as exc:  # (argparse on made-up options): the handler's failure
            reply = _exited(params.name, exc)
        return tool_result(reply)

    return Server(
        name,
        version=version("llmgine-mcp"),
        description="llmgine commands served as tools",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def serve(toolbox: Toolbox, *, name: str = DEFAULT_NAME) -> None:
    """Serve ``toolbox`` over this process's stdin and stdout until stdin closes.

    While serving, fd 1 and ``sys.stdout`` point at stderr, and the protocol is
    written to a private duplicate of the original fd 1: what handlers print, or
    write to fd 1, goes to stderr and cannot corrupt the protocol. Registers no
    handler: the toolbox's bus must have them (``llmgine mcp serve`` calls
    ``register_handlers`` first), and does not close the bus.
    """
    with stdout_to_stderr() as wire:
        await serve_on(toolbox, wire, name=name)


async def serve_on(toolbox: Toolbox, wire: int, *, name: str = DEFAULT_NAME) -> None:
    """Serve ``toolbox`` over stdin and fd ``wire`` (from :func:`stdout_to_stderr`)."""
    server = build_server(toolbox, name=name)
    async with stdio_server(stdout=protocol_stdout(wire)) as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def _exited(name: str, exc: SystemExit) -> dict[str, Any]:
    _log.error("tool %r: the handler called sys.exit(%r)", name, exc.code, exc_info=exc)
    return {
        "ok": False,
        "error": {
            "type": "handler_error",
            "message": f"tool {name!r} failed: SystemExit: {exc.code} (the handler exited)",
        },
    }
