"""Deprecated: the plugin's entry module is now :mod:`llmgine_redis.plugin` (goes in 0.3).

Importing this module gives that module itself, so a plugin manager that loaded the
old entry point holds the same object as ``llmgine_redis.install`` registers.
"""

import sys
import warnings

from . import plugin

warnings.warn(
    "llmgine_redis._plugin is deprecated and goes in 0.3: the entry point is "
    "llmgine_redis.plugin (reinstall llmgine-redis if its metadata still names _plugin)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = plugin
