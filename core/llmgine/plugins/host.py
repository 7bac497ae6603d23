"""The plugin host: the object that owns the pluggy ``PluginManager`` and what it loaded.

One default host per process backs the module functions of :mod:`llmgine.plugins`
(``register_handlers``, ``load_plugins``, ...; see :func:`get_plugin_host`); a test
makes a fresh one with ``PluginHost()`` and :func:`llmgine.plugins.use_plugin_host`.
Pluggy is used at start-up only: the hooks hand over handlers and subscribers, and
from then on a dispatch is a dict lookup and a call.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from typing import Any

import attrs
import pluggy

from .. import PROJECT_NAME
from ..messages._naming import type_name
from ..messages.bus import MessageBus, message_bus
from . import _core_messages, _on_bus, hookspecs
from ._checks import check_hooks
from ._discovery import (
    DISABLE_ENV,
    LENIENT_ENV,
    TRACE_ENV,
    Candidate,
    check_compatible,
    normalize,
    scan,
)
from .catalog import MessageCatalog
from .errors import PluginLoadError, WireNameClash, is_plugin_failure
from .info import PluginInfo
from .state import BusState, env_flag

__all__ = ["CORE_PLUGIN", "PluginHost", "PluginInfo"]

#: The plugin-manager name of the core's own built-in plugin (its ``register_messages``);
#: never listed as a plugin.
CORE_PLUGIN = "llmgine.core"


class PluginHost:
    """Loads plugins into a pluggy ``PluginManager`` and installs them on buses.

    Thread-safe. What it installed on each bus is kept on that bus (see :meth:`record`).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._discovered = False
        self._checked: set[str] = set()  # plugins whose hooks have been validated
        #: plugin name -> info, in load order (failed plugins included, with .error)
        self._infos: dict[str, PluginInfo] = {}
        #: (normalized distribution, entry-point name) of candidates loaded or turned away
        self._processed: set[tuple[str, str]] = set()
        self._catalog = MessageCatalog()
        self._record: BusState[_on_bus.BusPlugins] = BusState("llmgine plugin host")
        # The core's messages are named through the same hook as every plugin's.
        self._pm.register(_core_messages, name=CORE_PLUGIN)
        self._register_messages(CORE_PLUGIN, "the llmgine core")

    def __repr__(self) -> str:
        return f"<PluginHost {list(self._infos)}>"

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The pluggy ``PluginManager`` (project name ``"llmgine"``)."""
        return self._pm

    @property
    def catalog(self) -> MessageCatalog:
        """The messages that may cross a transport: the core's and the loaded plugins'."""
        return self._catalog

    @property
    def lock(self) -> threading.RLock:
        """Held while plugins are loaded or installed on a bus (re-entrant)."""
        return self._lock

    def record(self, bus: MessageBus) -> _on_bus.BusPlugins:
        """What this host installed on ``bus`` (created empty on first use)."""
        return self._record.setdefault(bus, _on_bus.BusPlugins)

    def plugins(self) -> list[PluginInfo]:
        """The plugins loaded or refused so far, in load order (the core not included)."""
        with self._lock:
            return list(self._infos.values())

    def info(self, name: str) -> PluginInfo | None:
        """What is known about plugin ``name``, or ``None``."""
        return self._infos.get(name)

    def register_plugin(self, plugin: object, name: str | None = None) -> str:
        """Add a plugin object or module that is not installed (e.g. in tests or an app).

        Returns the name it is registered under; :meth:`register_handlers` then picks
        it up like an installed one. Its hooks are validated at once.
        """
        with self._lock:
            registered = self._pm.register(plugin, name)
            if registered is None:
                raise ValueError(
                    f"plugin {name or plugin!r} is blocked ({DISABLE_ENV} names it); "
                    "install it with its install(bus) or unset that variable"
                )
            try:
                self._check_hooks(registered)
                info = self._describe(registered, plugin, None)
            except BaseException as exc:  # left out of the manager, so that it can be retried
                self._pm.unregister(name=registered)
                if isinstance(exc, PluginLoadError) or not is_plugin_failure(exc):
                    raise
                raise self.hook_error(registered, "failed in its plugin_status hook", exc) from exc
            self._infos[registered] = info
            self._checked.add(registered)
            return registered

    def unregister_plugin(self, name: str) -> None:
        """Forget plugin ``name``: out of the plugin manager, the listing and the catalogue.

        It is not shut down or taken off the buses it is on (see :meth:`stop` and
        :meth:`remove_from`); a test fixture calls this last.
        """
        with self._lock:
            if self._pm.get_plugin(name) is not None:
                self._pm.unregister(name=name)
            info = self._infos.pop(name, None)
            self._checked.discard(name)
            self._catalog.remove_source(PluginInfo(name).source if info is None else info.source)

    def load_plugins(self, *, lenient: bool | None = None) -> list[PluginInfo]:
        """Import every installed plugin (once per host) and return them, in load order.

        Raises :class:`PluginLoadError` for a plugin that fails to import, is
        incompatible, or implements an unknown hook, unless ``lenient`` (or
        ``LLMGINE_PLUGINS_LENIENT=1``), which warns and skips it instead.
        """
        lenient = self.lenient(lenient)
        with self._lock:
            if not self._discovered:
                self._discover(lenient)
                self._discovered = True
            return list(self._infos.values())

    def _discover(self, lenient: bool) -> None:
        for candidate, excluded_by in scan(warn_unknown=True):
            if excluded_by == DISABLE_ENV:  # pluggy refuses it, also by register_plugin()
                self._pm.set_blocked(candidate.name)
                continue
            key = (normalize(candidate.dist_name or ""), candidate.name)
            # Skip what an earlier, interrupted call already loaded or turned away; a
            # plugin of the same name from elsewhere still reaches _load's clash check.
            if excluded_by is None and key not in self._processed:
                self._load(candidate, lenient)
                self._processed.add(key)
        # Hooks are checked after all loaded: a plugin may add hookspecs that a plugin
        # loaded before it implements.
        for name, info in list(self._infos.items()):
            if info.error is None and name not in self._checked:
                try:
                    self._check_hooks(name)
                except PluginLoadError as refused:
                    if lenient:  # else it stays unchecked: the next call raises again
                        self._pm.unregister(name=name)
                    self.fail(refused, lenient, info, stacklevel=5)
                self._checked.add(name)
        try:  # pluggy's own check, for plugins put into the manager by other means
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self._pm.get_name(exc.plugin) or repr(exc.plugin)
            unchecked = PluginLoadError(
                f"plugin {name!r} (registered with the plugin manager directly) {exc}; "
                "register it with llmgine.plugins.register_plugin() to have it checked",
                plugin=name,
            )
            unchecked.__cause__ = exc
            self.fail(unchecked, lenient, stacklevel=5)

    def _adopt(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` is the very plugin ``install_plugin()`` registered before
        discovery; then it gains its distribution instead of being a name clash."""
        known = self._infos.get(candidate.name)
        if known is None or known.distribution or known.module != candidate.entry_point.value:
            return False
        with contextlib.suppress(Exception):  # (then it is another plugin of that name)
            if candidate.entry_point.load() is self._pm.get_plugin(candidate.name):
                dist, version = candidate.dist_name, candidate.dist_version
                self._infos[candidate.name] = attrs.evolve(
                    known, distribution=dist, version=version
                )
                return True
        return False

    def _load(self, candidate: Candidate, lenient: bool) -> None:
        dist, version, module = candidate.dist_name, candidate.dist_version, candidate.entry_point
        info = PluginInfo(candidate.name, dist, version, module.value)
        if self._pm.has_plugin(candidate.name):
            if self._adopt(candidate):
                return
            other = self._infos.get(candidate.name)
            where = other.origin if other and other.origin else " added with register_plugin()"
            error = candidate.error(
                f"has the same name as the plugin{where}; plugin names must be unique: rename "
                f"one, or block this one with {DISABLE_ENV}={candidate.dist_name or candidate.name}"
            )
            # Recorded under its own key: the plugin that has the name keeps its entry.
            self.fail(error, lenient, info, key=f"{candidate.name} ({candidate.describe()})")
            return
        step = "failed to import"
        try:
            check_compatible(candidate)
            plugin = candidate.entry_point.load()
            step = "could not be registered with pluggy"
            self._pm.register(plugin, name=candidate.name)
            step = "failed in its plugin_status hook"
            self._infos[candidate.name] = self._describe(candidate.name, plugin, info)
        except BaseException as exc:  # sys.exit() at import must not end the app either
            if not is_plugin_failure(exc):
                raise
            if self._pm.get_plugin(candidate.name) is not None:
                self._pm.unregister(name=candidate.name)
            if not isinstance(exc, PluginLoadError):
                exc = candidate.error(f"{step}: {type(exc).__name__}: {exc}", exc)
            self.fail(exc, lenient, info, stacklevel=6)

    def _describe(self, name: str, plugin: object, base: PluginInfo | None) -> PluginInfo:
        hooks = tuple(sorted(c.name for c in self._pm.get_hookcallers(plugin) or ()))
        status = None
        if "plugin_status" in hooks:
            status = self.call_hook(name, "plugin_status")
            from .status import PluginStatus  # built on first use (see llmgine.plugins)

            if not isinstance(status, PluginStatus | None):  # `llmgine plugins` reads its fields
                raise TypeError(f"it returned {status!r}, not a llmgine.plugins.PluginStatus")
        if base is None:
            module = getattr(plugin, "__name__", None) or type_name(type(plugin))
            base = PluginInfo(name=name, module=module)
        messages: tuple[str, ...] = ()
        if "register_messages" in hooks:
            messages = self._register_messages(name, base.source, base)
        return attrs.evolve(base, hooks=hooks, status=status, messages=messages)

    def _register_messages(
        self, name: str, source: str, info: PluginInfo | None = None
    ) -> tuple[str, ...]:
        """Call plugin ``name``'s ``register_messages``: all its names are recorded, or none."""
        hook = "register_messages"
        try:
            return tuple(
                self._catalog.register_all(
                    source, lambda register: self.call_hook(name, hook, register=register)
                )
            )
        except BaseException as exc:
            if not is_plugin_failure(exc):
                raise
            what = "claims a wire name" if isinstance(exc, WireNameClash) else "failed"
            raise self.hook_error(name, f"{what} in its {hook} hook", exc, info) from exc

    def _check_hooks(self, name: str) -> None:
        info = self._infos.get(name)
        origin = info.origin if info else ""
        check_hooks(self._pm, name, origin, info.distribution if info else None)

    def call_hook(self, name: str, hook: str, **kwargs: Any) -> Any:
        """Call plugin ``name``'s implementation of ``hook`` alone; return its result.

        By hand, on purpose: each plugin's hooks run on their own so that a failure is
        that plugin's (and a plugin object need not be hashable, which pluggy's
        ``subset_hook_caller`` needs). Like pluggy, it passes only the arguments the
        implementation declares.
        """
        plugin = self._pm.get_plugin(name)
        for impl in getattr(self._pm.hook, hook).get_hookimpls():
            if impl.plugin is plugin:
                return impl.function(*(kwargs[arg] for arg in impl.argnames))
        return None

    def hook_error(
        self, name: str, what: str, exc: BaseException, info: PluginInfo | None = None
    ) -> PluginLoadError:
        """``plugin 'name' from dist version <what>: <exc>``, with ``exc`` chained
        (``info``: the plugin's, if it is not loaded yet)."""
        info = info or self._infos.get(name)
        error = PluginLoadError(
            f"plugin {name!r}{info.origin if info else ''} {what}: {type(exc).__name__}: {exc}",
            plugin=name,
            distribution=info.distribution if info else None,
        )
        error.__cause__ = exc
        return error

    def guarded_call(self, name: str, hook: str, what: str, **kwargs: Any) -> Any:
        """:meth:`call_hook`, raising any failure of the plugin as a :class:`PluginLoadError`
        (``plugin 'name' ... <what>: ...``); ``KeyboardInterrupt`` passes through."""
        try:
            return self.call_hook(name, hook, **kwargs)
        except BaseException as exc:
            if not is_plugin_failure(exc):
                raise
            raise self.hook_error(name, what, exc) from exc

    @staticmethod
    def lenient(value: bool | None) -> bool:
        """``value``, or if ``None`` the ``LLMGINE_PLUGINS_LENIENT`` environment variable."""
        return env_flag(LENIENT_ENV) if value is None else value

    def fail(  # (a fixed-order signature: the callers' warnings point at their callers)
        self,
        error: PluginLoadError,
        lenient: bool,
        info: PluginInfo | None = None,
        *,
        key: str | None = None,
        stacklevel: int = 2,
    ) -> None:
        """Raise ``error``, or in lenient mode warn and record it on ``info`` (if given)."""
        if not lenient:
            raise error
        warnings.warn(f"{error} (skipped: lenient mode)", RuntimeWarning, stacklevel=stacklevel)
        if info is not None:
            self._infos[key or info.name] = attrs.evolve(info, error=str(error))

    def register_handlers(
        self, bus: MessageBus | None = None, *, lenient: bool | None = None, stacklevel: int = 2
    ) -> list[PluginInfo]:
        """See :func:`llmgine.plugins.register_handlers`."""
        bus = message_bus if bus is None else bus
        lenient = self.lenient(lenient)
        infos = self.load_plugins(lenient=lenient)
        names = [i.name for i in infos if i.error is None]
        failed = _on_bus.register_on(self, bus, names, lenient, stacklevel + 1)
        if env_flag(TRACE_ENV):
            from ..tracing import install_tracing

            install_tracing(bus)
        return [
            attrs.evolve(i, error=failed[i.name]) if i.error is None and i.name in failed else i
            for i in self.plugins()
        ]

    def install_plugin(
        self,
        bus: MessageBus,
        name: str,
        plugin: object,
        *,
        lenient: bool | None = None,
        stacklevel: int = 2,
    ) -> PluginInfo:
        """See :func:`llmgine.plugins.install_plugin`."""
        with self._lock:
            if self._pm.is_blocked(name):  # an explicit install wins over the environment
                self._pm.unblock(name)
            if not self._pm.has_plugin(name):
                self.register_plugin(plugin, name)
            elif self._pm.get_plugin(name) is not plugin:
                raise PluginLoadError(
                    f"cannot install plugin {name!r} from {plugin!r}: another plugin has that "
                    f"name ({self._pm.get_plugin(name)!r}); give one of them another name",
                    plugin=name,
                )
            failed = self.register_on(bus, [name], lenient=lenient, stacklevel=stacklevel + 1)
            info = self._infos[name]
        return attrs.evolve(info, error=failed[name]) if name in failed else info

    def register_on(
        self, bus: MessageBus, names: list[str], *, lenient: bool | None = None, stacklevel: int = 2
    ) -> dict[str, str]:
        """Register the loaded plugins ``names`` on ``bus`` (those not there yet) and start
        them; returns the errors of lenient mode by plugin name (strict mode raises)."""
        return _on_bus.register_on(self, bus, names, self.lenient(lenient), stacklevel + 1)

    def registered_on(self, bus: MessageBus) -> list[str]:
        """The plugins registered on ``bus`` by this host, in registration order (a copy)."""
        record = self._record.get(bus)  # (not made here: looking leaves the bus unchanged)
        return list(record.registered) if record is not None else []

    def stop(self, bus: MessageBus, names: list[str]) -> list[PluginLoadError]:
        """Shut down those of ``names`` started on ``bus``, as closing it would; return the
        errors of their ``shutdown`` hooks. Closing the bus does not shut them down again."""
        return _on_bus.stop(self, bus, names)

    def remove_from(self, bus: MessageBus, name: str) -> None:
        """Take plugin ``name``'s handlers, subscribers and middleware (and its middleware
        slot) off ``bus``; call :meth:`stop` first if it is started there."""
        _on_bus.remove(self, bus, name)

    def provided_by(self, name: str, bus: MessageBus) -> tuple[list[str], list[str]]:
        """The command types and subscription keys plugin ``name`` registers, as text
        (see :func:`llmgine.plugins._on_bus.provided_by`)."""
        return _on_bus.provided_by(self, name, bus)
