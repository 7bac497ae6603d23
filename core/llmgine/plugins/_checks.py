"""Validating a plugin's hook implementations before any of them is called."""

from __future__ import annotations

import pluggy

from ..messages._naming import callable_name, is_async_callable
from . import hookspecs
from .errors import PluginLoadError

__all__ = ["check_hooks"]

#: llmgine's own hooks, which it calls itself: each implementation directly and synchronously.
_OWN_HOOKS = frozenset(hookspecs.__all__)


def check_hooks(pm: pluggy.PluginManager, name: str, origin: str, distribution: str | None) -> None:
    """Raise :class:`PluginLoadError` if plugin ``name`` implements a hook llmgine can't call.

    That is an unknown hook (unless marked ``optionalhook``), or one of llmgine's own
    hooks as a wrapper or as ``async def``. ``origin`` (`` from dist version`` or
    empty) and ``distribution`` describe the plugin in the error.
    """
    plugin = pm.get_plugin(name)
    for caller in pm.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            what = callable_name(impl.function)
            problem = None
            if caller.spec is None and not impl.optionalhook:
                problem = (
                    f"implements unknown hook {caller.name!r} ({what}); check the spelling "
                    "against the hooks in llmgine.plugins.hookspecs, or mark a hook of another "
                    "plugin with @hookimpl(optionalhook=True)"
                )
            elif caller.name in _OWN_HOOKS and (impl.wrapper or impl.hookwrapper):
                # llmgine calls each plugin's implementation on its own, so a wrapper
                # would never wrap anything.
                problem = (
                    f"implements hook {caller.name!r} ({what}) as a wrapper, but llmgine "
                    "calls each plugin's hooks on their own: drop wrapper=True/hookwrapper=True"
                )
            elif caller.name in _OWN_HOOKS and is_async_callable(impl.function):
                problem = (
                    f"implements hook {caller.name!r} ({what}) as async def, but llmgine "
                    "calls its hooks synchronously, so the coroutine would never run: make it "
                    "a plain def (for async clean-up, call bus.on_close(async_callback) in "
                    "startup; await bus.aclose() awaits it)"
                )
            if problem is not None:
                raise PluginLoadError(
                    f"plugin {name!r}{origin} {problem}", plugin=name, distribution=distribution
                )
