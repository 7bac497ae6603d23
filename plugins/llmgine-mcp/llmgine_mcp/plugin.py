"""The hook implementations (the ``mcp`` entry point): ``llmgine mcp serve`` and the status.

Installed, the plugin adds nothing to any bus: it registers no handler, subscriber or
middleware. It serves only when asked, with ``llmgine mcp serve`` or
:func:`llmgine_mcp.serve`.
"""

from __future__ import annotations

import argparse

import llmgine
from llmgine.plugins import PluginStatus

from ._cli import add_mcp_command

__all__ = ["ACTIVATE", "plugin_status", "register_cli"]

#: How to use the plugin, as ``llmgine plugins`` shows it.
ACTIVATE = (
    "run `llmgine mcp serve MODULE:ATTRIBUTE` (naming an llmgine.tools.Toolbox) as an MCP "
    "client's server command"
)


@llmgine.hookimpl
def plugin_status() -> PluginStatus:
    """Always idle: it serves only in the process ``llmgine mcp serve`` starts."""
    return PluginStatus(
        active=False,
        detail="adds nothing to the bus; serves a Toolbox over stdio only when asked",
        activate=ACTIVATE,
    )


@llmgine.hookimpl
def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``llmgine mcp serve MODULE:ATTRIBUTE`` (see :mod:`llmgine_mcp._cli`)."""
    add_mcp_command(subparsers)
