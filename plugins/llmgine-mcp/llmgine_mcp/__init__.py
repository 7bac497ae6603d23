"""llmgine-mcp: serves a :class:`llmgine.tools.Toolbox` as an MCP server over stdio.

Idle until asked: installed, it adds nothing to any bus. ``llmgine mcp serve
MODULE:ATTRIBUTE`` (or ``await llmgine_mcp.serve(toolbox)``) answers an MCP client's
``tools/list`` with the toolbox's definitions and its ``tools/call`` with
``toolbox.call_async``. See the README.

The MCP SDK is imported on first use of a name that needs it (``serve``,
``build_server``, ``tool_result``), so that every ``llmgine`` command, which loads
the installed plugins, does not pay for it.
"""

from typing import TYPE_CHECKING, Any

from ._config import DEFAULT_NAME
from ._install import PLUGIN_NAME, install
from .errors import ToolboxSpecError

if TYPE_CHECKING:
    from ._server import build_server, serve, tool_result
    from ._spec import load_toolbox

__all__ = [
    "DEFAULT_NAME",
    "PLUGIN_NAME",
    "ToolboxSpecError",
    "build_server",
    "install",
    "load_toolbox",
    "serve",
    "tool_result",
]

#: the names imported on first use, and their modules
_LAZY = {
    "build_server": "_server",
    "serve": "_server",
    "tool_result": "_server",
    "load_toolbox": "_spec",
}

if not TYPE_CHECKING:  # (a module __getattr__ seen by mypy would hide misspelled names)

    def __getattr__(name: str) -> Any:
        """Import ``name`` from its module on first use."""
        if name not in _LAZY:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        """The public names, those not imported yet included."""
        return sorted(__all__)
