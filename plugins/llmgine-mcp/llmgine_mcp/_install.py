"""``install(bus)``: the plugin on one bus, where it adds nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmgine.messages.bus import MessageBus
from llmgine.plugins import install_plugin

if TYPE_CHECKING:
    from llmgine.plugins import PluginInfo

__all__ = ["PLUGIN_NAME", "install"]

#: The entry-point name the plugin is registered under.
PLUGIN_NAME = "mcp"


def install(bus: MessageBus) -> PluginInfo:
    """Register the plugin on ``bus`` (idempotent), as ``register_handlers(bus)`` would.

    It has no settings and keeps nothing on the bus: it registers no handler,
    subscriber or middleware there. What it offers is serving a toolbox, with
    :func:`~llmgine_mcp.serve` or ``llmgine mcp serve``, whatever bus the toolbox
    dispatches on. Returns the plugin's :class:`~llmgine.plugins.PluginInfo`.
    """
    from . import plugin  # (the plugin module's package imports this one)

    return install_plugin(bus, PLUGIN_NAME, plugin)
