"""Deprecated since 0.2: the entry-point module is now :mod:`llmgine_workflows.plugin`.

Kept importable for one minor version; importing it warns and gives the hooks of
``llmgine_workflows.plugin``.
"""

import warnings

from .plugin import plugin_status, register_cli, register_commands, startup

__all__ = ["plugin_status", "register_cli", "register_commands", "startup"]

warnings.warn(
    "llmgine_workflows._plugin is deprecated and will be removed in 0.3; the plugin's hooks "
    "are in llmgine_workflows.plugin (the entry point 'workflows' names it)",
    DeprecationWarning,
    stacklevel=2,
)
