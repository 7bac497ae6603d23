"""Defaults shared by the server and the command line (kept apart so that building the
``llmgine`` parser does not import the MCP SDK)."""

from __future__ import annotations

__all__ = ["DEFAULT_NAME"]

#: The server name a client is told (``serverInfo.name``) unless another is given.
DEFAULT_NAME = "llmgine"
