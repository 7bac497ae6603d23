"""Plugins: discovery on the ``llmgine.plugins`` entry-point group, through pluggy.

The public API is re-exported here; the hooks a plugin may implement are in
:mod:`llmgine.plugins.hookspecs`. A :class:`PluginHost` owns the pluggy manager and
what it loaded; the module functions use the process's default one
(:func:`get_plugin_host`).
"""

from typing import TYPE_CHECKING

from ..messages._lazy import lazy_names
from ..messages._typing import Register, Subscribe
from ._discovery import (
    DISABLE_ENV,
    ENTRY_POINT_GROUP,
    LENIENT_ENV,
    LOAD_ENV,
    UnknownPluginNameWarning,
    normalize,
)
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
from .errors import IncompatiblePluginError, PluginLoadError, WireNameClash

if TYPE_CHECKING:
    from .catalog import MessageCatalog, RegisterMessage, default_wire_name
    from .channels import ChannelInfo, TransportInfo
    from .host import PluginHost
    from .info import PluginInfo
    from .state import BusState, env_flag
    from .status import PluginStatus

__all__ = [
    "BusState",
    "ChannelInfo",
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
    "TransportInfo",
    "UnknownPluginNameWarning",
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
    # Imported on first use: what only a process that loads plugins needs (the host, its
    # attrs classes) is kept off the import of the bus (register_handlers is here).
    __getattr__, __dir__ = lazy_names(
        __name__,
        {
            "BusState": "llmgine.plugins.state",
            "ChannelInfo": "llmgine.plugins.channels",
            "MessageCatalog": "llmgine.plugins.catalog",
            "PluginHost": "llmgine.plugins.host",
            "PluginInfo": "llmgine.plugins.info",
            "PluginStatus": "llmgine.plugins.status",
            "RegisterMessage": "llmgine.plugins.catalog",
            "TransportInfo": "llmgine.plugins.channels",
            "default_wire_name": "llmgine.plugins.catalog",
            "env_flag": "llmgine.plugins.state",
        },
    )
