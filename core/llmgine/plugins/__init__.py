"""Plugins: discovery on the ``llmgine.plugins`` entry-point group, through pluggy.

The public API is re-exported here; the hooks a plugin may implement are in
:mod:`llmgine.plugins.hookspecs`.
"""

from ..messages._typing import Register, Subscribe
from ._discovery import DISABLE_ENV, ENTRY_POINT_GROUP, LOAD_ENV, normalize
from ._manager import (
    LENIENT_ENV,
    PluginInfo,
    get_plugin_manager,
    load_plugins,
    register_handlers,
    register_plugin,
)
from .errors import IncompatiblePluginError, PluginLoadError
from .status import PluginStatus

__all__ = [
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "IncompatiblePluginError",
    "LENIENT_ENV",
    "LOAD_ENV",
    "PluginInfo",
    "PluginLoadError",
    "PluginStatus",
    "Register",
    "Subscribe",
    "get_plugin_manager",
    "load_plugins",
    "normalize",
    "register_handlers",
    "register_plugin",
]
