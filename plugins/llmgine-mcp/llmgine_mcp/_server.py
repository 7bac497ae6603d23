"""The MCP server of a toolbox: ``tools/list`` and ``tools/call`` on the SDK's low-level Server.

The low-level ``mcp.server.lowlevel.Server`` takes the tool definitions as they are,
so the input schema the toolbox derived from the command class is what the client
sees (the SDK's high-level ``MCPServer`` would derive one again from a function's
signature). It validates nothing itself: the toolbox does, and answers every call.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import Any

import mcp.types as types
from llmgine.tools import Toolbox
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from ._config import DEFAULT_NAME

__all__ = ["DEFAULT_NAME", "build_server", "serve", "tool_result"]


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
    """
    tools = [types.Tool.model_validate(d) for d in toolbox.definitions("mcp")]

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        return tool_result(await toolbox.call_async(params.name, params.arguments))

    return Server(
        name,
        version=version("llmgine-mcp"),
        description="llmgine commands served as tools",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def serve(toolbox: Toolbox, *, name: str = DEFAULT_NAME) -> None:
    """Serve ``toolbox`` over this process's stdin and stdout until stdin closes.

    While serving, what the handlers print goes to stderr (the SDK points stdout
    there), so it cannot corrupt the protocol. Registers no handler: the toolbox's
    bus must have them (``llmgine mcp serve`` calls ``register_handlers`` first).
    """
    server = build_server(toolbox, name=name)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
