"""The process's default plugin host, and the module functions that use it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..messages.bus import MessageBus
from ._discovery import LENIENT_ENV, TRACE_ENV

if TYPE_CHECKING:
    import pluggy

    from .catalog import MessageCatalog
    from .host import PluginHost
    from .info import PluginInfo

__all__ = [
    "LENIENT_ENV",
    "TRACE_ENV",
    "call_plugin_hook",
    "get_message_catalog",
    "get_plugin_host",
    "get_plugin_manager",
    "install_plugin",
    "load_plugins",
    "register_handlers",
    "register_plugin",
    "use_plugin_host",
]


class _Default:
    """Holds the default host, made on first use (importing llmgine builds no host, so
    none of the core's lazily built messages); swapped by :func:`use_plugin_host` only."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.host: PluginHost | None = None

    def get(self) -> PluginHost:
        """The default host, made now if there is none yet."""
        host = self.host
        if host is None:
            with self.lock:
                if self.host is None:
                    # (imported here: the host's modules cost about 1 ms, more than a
                    # third of importing the bus, and only a process that loads plugins
                    # needs them)
                    from .host import PluginHost

                    self.host = PluginHost()
                host = self.host
        return host


_default = _Default()


def get_plugin_host() -> PluginHost:
    """Return the process's default :class:`PluginHost`, which the functions here use."""
    return _default.get()


@contextmanager
def use_plugin_host(host: PluginHost) -> Iterator[PluginHost]:
    """Make ``host`` the default plugin host inside the ``with`` block (for tests).

    E.g. ``with use_plugin_host(PluginHost()):`` gives code that calls
    ``register_handlers()`` a host that has loaded nothing yet; the previous host
    is the default again afterwards.
    """
    with _default.lock:
        previous, _default.host = _default.host, host
    try:
        yield host
    finally:
        with _default.lock:
            _default.host = previous


def get_plugin_manager() -> pluggy.PluginManager:
    """Return the default host's pluggy ``PluginManager`` (project name ``"llmgine"``)."""
    return _default.get().plugin_manager


def get_message_catalog() -> MessageCatalog:
    """Return the catalogue of messages that may cross a transport (core and plugins)."""
    return _default.get().catalog


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Add a plugin object or module that is not installed (e.g. in tests or an app).

    Returns the name it is registered under; ``register_handlers()`` then picks it
    up like an installed one. Its hooks are validated at once.
    """
    return _default.get().register_plugin(plugin, name)


def load_plugins(*, lenient: bool | None = None) -> list[PluginInfo]:
    """Import every installed plugin (once per process) and return them, in load order.

    Raises :class:`PluginLoadError` for a plugin that fails to import (whatever it
    raises but ``KeyboardInterrupt``), is incompatible, or implements an unknown
    hook, unless ``lenient`` (or ``LLMGINE_PLUGINS_LENIENT=1``), which warns and
    skips it instead.
    """
    return _default.get().load_plugins(lenient=lenient)


def call_plugin_hook(plugin_name: str, hook: str, **kwargs: Any) -> Any:
    """Call one plugin's implementation of ``hook`` (pluggy passes only declared args)."""
    return _default.get().call_hook(plugin_name, hook, **kwargs)


def install_plugin(
    bus: MessageBus, name: str, plugin: object, *, lenient: bool | None = None
) -> PluginInfo:
    """Register plugin ``name`` (the module or object ``plugin``) on ``bus`` and start it.

    What a plugin's ``install(bus, **settings)`` calls after keeping its settings on
    ``bus``. The plugin is added to the plugin manager under ``name`` if it is not
    there (e.g. not installed, or excluded by the environment: an explicit install
    wins). Idempotent, like :func:`register_handlers`, which afterwards neither
    registers it on ``bus`` again nor starts it twice. Raises :class:`PluginLoadError`
    if it cannot be registered or started (unless lenient, which warns).
    """
    return _default.get().install_plugin(bus, name, plugin, lenient=lenient, stacklevel=3)


def register_handlers(
    bus: MessageBus | None = None, *, lenient: bool | None = None
) -> list[PluginInfo]:
    """Load every installed plugin and register its handlers and subscribers on ``bus``.

    ``bus`` defaults to the process-wide ``message_bus``. Idempotent: a plugin is
    registered on a bus once, however often this is called. Then the ``startup``
    hook of each plugin not yet started there runs, in load order; closing the bus
    runs their ``shutdown`` hooks in reverse order, each right after the close
    callbacks its plugin added in ``startup``; after a close this starts them again.
    A plugin whose ``startup`` fails has its handlers, subscribers and middleware
    removed from ``bus`` again (the next call registers it anew); the error is
    raised, or in lenient mode warned. Returns the loaded plugins in load
    order (in lenient mode, one refused or failing to start on this bus carries the error).
    """
    return _default.get().register_handlers(bus, lenient=lenient, stacklevel=3)
