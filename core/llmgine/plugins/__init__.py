"""Plugins: discovery on the ``llmgine.plugins`` entry-point group, through pluggy.

The public API is re-exported here; the hooks a plugin may implement are in
:mod:`llmgine.plugins.hookspecs`. A :class:`PluginHost` owns the pluggy manager and
what it loaded; the module functions use the process's default one
(:func:`get_plugin_host`).
"""

from typing import TYPE_CHECKING

from ..messages._lazy import lazy_names
from ..messages._typing import Register, Subscribe
from ._discovery import DISABLE_ENV, ENTRY_POINT_GROUP, LENIENT_ENV, LOAD_ENV, normalize
from ._manager import (
    get_message_catalog,
    get_plugin_host,
    get_plugin_manager,
    install_plugin,
    load_plugins,
    register_handlers,
    register_plugin,
    use_plugin_host,
)
from .catalog import MessageCatalog, RegisterMessage, default_wire_name
from .errors import IncompatiblePluginError, PluginLoadError, WireNameClash
from .host import PluginHost
from .info import PluginInfo
from .state import BusState, env_flag

if TYPE_CHECKING:
    from .status import PluginStatus

__all__ = [
    "BusState",
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "IncompatiblePluginError",
    "LENIENT_ENV",
    "LOAD_ENV",
    "MessageCatalog",
    "PluginHost",
    "PluginInfo",
    "PluginLoadError",
    "PluginStatus",
    "Register",
    "RegisterMessage",
    "Subscribe",
    "WireNameClash",
    "default_wire_name",
    "env_flag",
    "get_message_catalog",
    "get_plugin_host",
    "get_plugin_manager",
    "install_plugin",
    "load_plugins",
    "normalize",
    "register_handlers",
    "register_plugin",
    "use_plugin_host",
]

if not TYPE_CHECKING:  # (a module __getattr__ would hide misspelled names from mypy)
    # An attrs class that only plugins with a plugin_status hook need: built on first use.
    __getattr__, __dir__ = lazy_names(__name__, "llmgine.plugins.status", ["PluginStatus"])
