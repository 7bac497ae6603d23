"""Handler registration, as the seed names it: ``register_handlers()`` wires every plugin.

Command handlers and event subscribers live in installed plugin distributions
(see :mod:`llmgine.plugins`); this module is the seed's entry point to them::

    from llmgine.messages.handlers import register_handlers

    register_handlers()  # loads every installed plugin onto message_bus
"""

from typing import TYPE_CHECKING

from ..plugins import PluginLoadError, register_handlers
from ._lazy import lazy_names

if TYPE_CHECKING:
    from ..plugins.info import PluginInfo

__all__ = ["PluginInfo", "PluginLoadError", "register_handlers"]

if not TYPE_CHECKING:  # (an attrs class: built when first read, like the core's messages)
    __getattr__, __dir__ = lazy_names(__name__, "llmgine.plugins.info", ["PluginInfo"])
