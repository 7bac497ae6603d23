"""Handler registration, as the seed names it: ``register_handlers()`` wires every plugin.

Command handlers and event subscribers live in installed plugin distributions
(see :mod:`llmgine.plugins`); this module is the seed's entry point to them::

    from llmgine.messages.handlers import register_handlers

    register_handlers()  # loads every installed plugin onto message_bus
"""

from ..plugins import PluginInfo, PluginLoadError, register_handlers

__all__ = ["PluginInfo", "PluginLoadError", "register_handlers"]
