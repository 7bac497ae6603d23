"""``llmgine mcp serve MODULE:ATTRIBUTE``: serve an application's toolbox over stdio.

The MCP SDK is imported when the command runs, not when ``llmgine`` builds its parser
(which every ``llmgine`` command does). Stdout is the protocol's: everything the command
says goes to stderr, and what the application's module prints while it is imported is
sent there too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ._config import DEFAULT_NAME

if TYPE_CHECKING:
    from llmgine.tools import Toolbox

__all__ = ["add_mcp_command", "prepare", "serve_command"]

_DESCRIPTION = (
    "Serve the commands of an application's llmgine.tools.Toolbox as the tools of an MCP "
    "server over stdin and stdout, until stdin closes (the client ends the session), "
    "SIGTERM or Ctrl-C. MODULE:ATTRIBUTE names the toolbox, or a function returning one. Before "
    "serving, it calls register_handlers() on the toolbox's bus, so the installed "
    "plugins' handlers run the tools' commands (--no-register-handlers: the module "
    "registers them itself), and closes that bus when it stops (SIGTERM or SIGINT: "
    "closes the bus and exits with status 128 + the signal's number; a second signal "
    "exits at once). Logs and errors go to stderr, and so does what the module and "
    "the handlers print."
)


def add_mcp_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``llmgine mcp serve MODULE:ATTRIBUTE [--app-dir DIR] [--name NAME] ...``."""
    mcp = subparsers.add_parser(
        "mcp",
        help="serve a Toolbox of commands as an MCP server (llmgine mcp serve)",
        description="Model Context Protocol: serve commands as tools to MCP clients "
        "(Claude Desktop, IDEs, agents).",
    )
    mcp.set_defaults(func=lambda args: _print_help(mcp))
    commands = mcp.add_subparsers(dest="mcp_command", metavar="COMMAND")
    parser = commands.add_parser(
        "serve",
        help="serve a Toolbox over stdio until the client disconnects",
        description=_DESCRIPTION,
    )
    parser.add_argument(
        "spec",
        metavar="MODULE:ATTRIBUTE",
        help="the toolbox to serve: a module importable from --app-dir or installed, a "
        "colon, and a Toolbox in it or a function returning one (e.g. myapp.tools:toolbox)",
    )
    parser.add_argument(
        "--app-dir",
        metavar="DIR",
        type=Path,
        default=Path("."),
        help="the directory put first on sys.path to import MODULE from (default: the "
        "current directory)",
    )
    parser.add_argument(
        "--name",
        default=DEFAULT_NAME,
        help=f"the server name the client is told (default: {DEFAULT_NAME})",
    )
    parser.add_argument(
        "--no-register-handlers",
        dest="register_handlers",
        action="store_false",
        help="do not call register_handlers() on the toolbox's bus (nor close it at the end)",
    )
    parser.set_defaults(func=serve_command)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def prepare(args: argparse.Namespace) -> Toolbox:
    """The toolbox ``args`` name, its bus's handlers registered unless told not to."""
    from llmgine.plugins import register_handlers

    from ._spec import load_toolbox

    sys.path.insert(0, str(args.app_dir.resolve()))
    # stdout will carry the protocol: a print() while the module loads must not reach it
    # (serve_command points fd 1 at stderr too, for what writes there directly)
    with contextlib.redirect_stdout(sys.stderr):
        toolbox = load_toolbox(args.spec)
        if args.register_handlers:
            register_handlers(toolbox.bus)
    return toolbox


def serve_command(args: argparse.Namespace) -> int:
    """Run ``llmgine mcp serve``: 0 once the client is gone (128 + N after signal N)."""
    from ._lifecycle import say, serve_until_stopped
    from ._stdio import stdout_to_stderr

    # fd 1 points at stderr from the module's import on: only the protocol writes to stdout
    with stdout_to_stderr() as wire:
        toolbox = prepare(args)
        names = ", ".join(toolbox.names) or "none"
        say(f"serving {len(toolbox)} tool(s) of {args.spec} over stdio: {names}")
        return asyncio.run(
            serve_until_stopped(toolbox, wire, name=args.name, close_bus=args.register_handlers)
        )
