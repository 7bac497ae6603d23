"""llmgine: a command/event message bus whose handlers live in installable plugins.

Plugin authors mark their hook implementations with :data:`hookimpl`::

    import llmgine

    @llmgine.hookimpl
    def register_commands(register):
        register(MyCommand, handle_my_command)
"""

import pluggy

from ._version import __version__

__all__ = ["PROJECT_NAME", "__version__", "hookimpl", "hookspec"]

#: The pluggy project name; also the prefix of llmgine's environment variables.
PROJECT_NAME = "llmgine"

#: Marks a function as an implementation of one of llmgine's hooks.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
#: Marks a hook specification (used by llmgine and by plugins that add hooks).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
