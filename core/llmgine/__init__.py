"""llmgine: a command/event message bus whose handlers live in installable plugins.

Plugin authors mark their hook implementations with :data:`hookimpl`::

    import llmgine

    @llmgine.hookimpl
    def register_commands(register):
        register(MyCommand, handle_my_command)
"""

import os

import pluggy

from ._version import __version__

__all__ = ["PROJECT_NAME", "__version__", "hookimpl", "hookspec"]

#: The pluggy project name; also the prefix of llmgine's environment variables.
PROJECT_NAME = "llmgine"

#: Marks a function as an implementation of one of llmgine's hooks.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
#: Marks a hook specification (used by llmgine and by plugins that add hooks).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

if os.environ.get("LLMGINE_TRACE"):
    # A program that never installs the tracer gets one warning at exit (LLMGINE_TRACE
    # alone prints nothing: register_handlers() or install_tracing() installs it).
    from ._trace_watch import arm

    arm()
