"""The plugin's errors (public).

A tool call never raises: the toolbox answers every call, and a failed one reaches the
client as a result with ``isError`` set. What can fail is finding the toolbox to serve.
"""

from __future__ import annotations

from llmgine.messages.errors import MessageBusException

__all__ = ["ToolboxSpecError"]


class ToolboxSpecError(MessageBusException, ValueError):
    """A ``MODULE:ATTRIBUTE`` spec names no :class:`~llmgine.tools.Toolbox`.

    Raised by :func:`~llmgine_mcp.load_toolbox` (and so by ``llmgine mcp serve``, which
    prints it in one line, exit status 1) for a spec without ``:``, a module that
    cannot be imported, a missing attribute, or an object that is neither a toolbox
    nor a callable returning one. The message names the spec and what to fix.
    """
