"""Loading plugins into pluggy, and registering what they provide on a bus.

Pluggy is used at start-up only: the hooks hand over handlers and subscribers,
and from then on a dispatch is a dict lookup and a call.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from .. import PROJECT_NAME
from ..messages._naming import type_name
from ..messages.bus import MessageBus, message_bus
from . import _core_messages, hookspecs
from ._checks import check_hooks
from ._discovery import DISABLE_ENV, Candidate, check_compatible, discover, normalize
from ._registrations import FAILURES, register_all, reserve_slots, undo
from .catalog import MessageCatalog
from .errors import PluginLoadError, WireNameClash

if TYPE_CHECKING:
    from .status import PluginStatus

__all__ = [
    "LENIENT_ENV",
    "TRACE_ENV",
    "PluginInfo",
    "call_plugin_hook",
    "get_message_catalog",
    "get_plugin_manager",
    "install_plugin",
    "load_plugins",
    "register_handlers",
    "register_plugin",
]

#: Key of ``MessageBus.extensions`` holding the names of the plugins registered on a bus.
_EXTENSION = "llmgine.plugins"
#: Key of ``MessageBus.extensions`` holding the plugins started on a bus, in start order,
#: each with the close callback (a _ShutDown) that shuts it down.
_STARTED = "llmgine.plugins.started"

#: Set to 1/true/yes to warn about broken plugins and go on instead of raising.
LENIENT_ENV = "LLMGINE_PLUGINS_LENIENT"
#: Set to 1/true/yes to print the tree of commands and events on stderr (see llmgine.tracing).
TRACE_ENV = "LLMGINE_TRACE"


@attrs.frozen
class PluginInfo:
    """What is known about one plugin: where it came from and what it provides."""

    name: str
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    hooks: tuple[str, ...] = ()
    status: PluginStatus | None = None
    #: wire names of the messages it registered in ``register_messages``
    messages: tuple[str, ...] = ()
    #: why it failed to load (lenient mode and ``llmgine plugins`` only)
    error: str | None = None


class _State:
    """The process's plugin manager and what it has loaded (one per process)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.discovered = False
        #: plugins whose hook names have been validated
        self.checked: set[str] = set()
        #: plugin name -> info, in load order (failed plugins included, with .error)
        self.infos: dict[str, PluginInfo] = {}
        #: (normalized distribution, entry-point name) of candidates loaded or turned away
        self.processed: set[tuple[str, str]] = set()
        #: the messages that may cross a transport: the core's and the plugins'
        self.catalog = MessageCatalog()
        _core_messages.register_messages(self._register_core)

    def _register_core(self, cls: type, name: str | None = None) -> None:
        self.catalog.register(cls, name, source="llmgine")


_state = _State()


def get_plugin_manager() -> pluggy.PluginManager:
    """Return the process's pluggy ``PluginManager`` (project name ``"llmgine"``)."""
    return _state.pm


def get_message_catalog() -> MessageCatalog:
    """Return the catalogue of messages that may cross a transport (core and plugins)."""
    return _state.catalog


def _lenient(value: bool | None) -> bool:
    if value is not None:
        return value
    return os.environ.get(LENIENT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _fail(
    error: PluginLoadError,
    lenient: bool,
    info: PluginInfo | None,
    key: str | None = None,
    stacklevel: int = 4,
) -> None:
    """Raise ``error``, or in lenient mode warn and record it on ``info`` (if given)."""
    if not lenient:
        raise error
    warnings.warn(f"{error} (skipped: lenient mode)", RuntimeWarning, stacklevel=stacklevel)
    if info is not None:
        _state.infos[key or info.name] = attrs.evolve(info, error=str(error))


def _origin(info: PluginInfo | None) -> str:
    """`` from dist version`` for an installed plugin, for error messages."""
    return f" from {info.distribution} {info.version}" if info and info.distribution else ""


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Add a plugin object or module that is not installed (e.g. in tests or an app).

    Returns the name it is registered under; ``register_handlers()`` then picks it
    up like an installed one. Its hooks are validated at once.
    """
    with _state.lock:
        registered = _state.pm.register(plugin, name)
        if registered is None:
            raise ValueError(f"plugin {name or plugin!r} is blocked in the plugin manager")
        try:
            _check_hooks(registered)
            info = _describe(registered, plugin, None)
        except FAILURES as exc:  # left out of the manager, so that it can be retried
            _state.pm.unregister(name=registered)
            if isinstance(exc, PluginLoadError):
                raise
            raise _hook_error(registered, "failed in its plugin_status hook", exc) from exc
        _state.infos[registered] = info
        _state.checked.add(registered)
        return registered


def load_plugins(*, lenient: bool | None = None) -> list[PluginInfo]:
    """Import every installed plugin (once per process) and return them, in load order.

    Raises :class:`PluginLoadError` for a plugin that fails to import, is
    incompatible, or implements an unknown hook, unless ``lenient`` (or
    ``LLMGINE_PLUGINS_LENIENT=1``), which warns and skips it instead.
    """
    lenient = _lenient(lenient)
    with _state.lock:
        if not _state.discovered:
            # Skip what an earlier, interrupted call already loaded or turned away; a
            # plugin of the same name from elsewhere still reaches _load's clash check.
            for candidate in discover():
                key = (normalize(candidate.dist_name or ""), candidate.name)
                if key not in _state.processed:
                    _load(candidate, lenient)
                    _state.processed.add(key)
            # Unknown hooks are checked after all loaded: a plugin may add hookspecs
            # that a plugin loaded before it implements.
            for name, info in list(_state.infos.items()):
                if info.error is None and name not in _state.checked:
                    try:
                        _check_hooks(name)
                    except PluginLoadError as error:
                        if lenient:  # else it stays unchecked: the next call raises again
                            _state.pm.unregister(name=name)
                        _fail(error, lenient, info)
                    _state.checked.add(name)
            _state.discovered = True
        return list(_state.infos.values())


def _installed_before(candidate: Candidate) -> bool:
    """Whether install_plugin() registered this very entry point's plugin before discovery."""
    try:
        plugin = candidate.entry_point.load()
    except Exception:  # then it is not the plugin registered under its name
        return False
    return plugin is _state.pm.get_plugin(candidate.name)


def _load(candidate: Candidate, lenient: bool) -> None:
    info = PluginInfo(
        name=candidate.name,
        distribution=candidate.dist_name,
        version=candidate.dist_version,
        module=candidate.entry_point.value,
    )
    if _state.pm.has_plugin(candidate.name):
        if _installed_before(candidate):  # by install_plugin(): it is this installed one
            known = _state.infos[candidate.name]
            _state.infos[candidate.name] = attrs.evolve(
                known, distribution=candidate.dist_name, version=candidate.dist_version
            )
            return
        other = _state.infos.get(candidate.name)
        where = _origin(other) or " added with register_plugin()"
        error = PluginLoadError(
            f"{candidate.describe()} has the same name as the plugin{where}; plugin names "
            f"must be unique: rename one, or block this one with "
            f"{DISABLE_ENV}={candidate.dist_name or candidate.name}",
            plugin=candidate.name,
            distribution=candidate.dist_name,
        )
        # Recorded under its own key: the plugin that has the name keeps its entry.
        _fail(error, lenient, info, key=f"{candidate.name} ({candidate.describe()})")
        return
    step = "failed to import"
    try:
        check_compatible(candidate)
        plugin = candidate.entry_point.load()
        step = "could not be registered with pluggy"
        _state.pm.register(plugin, name=candidate.name)
        step = "failed in its plugin_status hook"
        _state.infos[candidate.name] = _describe(candidate.name, plugin, info)
    except PluginLoadError as refused:
        if _state.pm.has_plugin(candidate.name):  # (refused by a hook, not at import)
            _state.pm.unregister(name=candidate.name)
        _fail(refused, lenient, info)
    except FAILURES as exc:  # sys.exit() at import must not end the app either
        if _state.pm.has_plugin(candidate.name):
            _state.pm.unregister(name=candidate.name)
        failed = PluginLoadError(
            f"{candidate.describe()} {step}: {type(exc).__name__}: {exc}",
            plugin=candidate.name,
            distribution=candidate.dist_name,
        )
        failed.__cause__ = exc
        _fail(failed, lenient, info)


def _describe(name: str, plugin: object, base: PluginInfo | None) -> PluginInfo:
    hooks = tuple(sorted(c.name for c in _state.pm.get_hookcallers(plugin) or ()))
    status = None
    if "plugin_status" in hooks:
        status = call_plugin_hook(name, "plugin_status")
        from .status import PluginStatus  # built on first use (see llmgine.plugins)

        if not isinstance(status, PluginStatus | None):  # `llmgine plugins` reads its fields
            raise TypeError(f"it returned {status!r}, not a llmgine.plugins.PluginStatus")
    messages: tuple[str, ...] = ()
    if "register_messages" in hooks:
        messages = _register_messages(name)
    if base is None:
        module = getattr(plugin, "__name__", None) or type_name(type(plugin))
        base = PluginInfo(name=name, module=module)
    return attrs.evolve(base, hooks=hooks, status=status, messages=messages)


def _register_messages(name: str) -> tuple[str, ...]:
    """Call plugin ``name``'s ``register_messages``: all its names are recorded, or none."""
    source = f"plugin {name!r}"
    catalog = _state.catalog
    before = set(catalog.names())
    names: dict[str, None] = {}  # (ordered, without repeats)

    def register(cls: type, wire: str | None = None) -> None:
        names[catalog.register(cls, wire, source=source)] = None

    try:
        call_plugin_hook(name, "register_messages", register=register)
    except FAILURES as exc:
        catalog.remove_source(source)
        what = "claims a wire name" if isinstance(exc, WireNameClash) else "failed"
        raise _hook_error(name, f"{what} in its register_messages hook", exc) from exc
    return tuple(n for n in names if n not in before)


def _check_hooks(name: str) -> None:
    info = _state.infos.get(name)
    check_hooks(_state.pm, name, _origin(info), info.distribution if info else None)


def call_plugin_hook(plugin_name: str, hook: str, **kwargs: Any) -> Any:
    """Call one plugin's implementation of ``hook`` (pluggy passes only declared args)."""
    plugin = _state.pm.get_plugin(plugin_name)
    caller = getattr(_state.pm.hook, hook)
    for impl in caller.get_hookimpls():
        if impl.plugin is plugin:
            return impl.function(*(kwargs[arg] for arg in impl.argnames))
    return None


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
    with _state.lock:
        if not _state.pm.has_plugin(name):
            register_plugin(plugin, name)
        elif _state.pm.get_plugin(name) is not plugin:
            raise PluginLoadError(
                f"cannot install plugin {name!r} from {plugin!r}: another plugin has that "
                f"name ({_state.pm.get_plugin(name)!r})",
                plugin=name,
            )
        failed = _register_on(bus, [name], _lenient(lenient))
        info = _state.infos[name]
    return attrs.evolve(info, error=failed[name]) if name in failed else info


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
    bus = message_bus if bus is None else bus
    infos = load_plugins(lenient=lenient)
    failed = _register_on(bus, [i.name for i in infos if i.error is None], _lenient(lenient))
    if os.environ.get(TRACE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        from ..tracing import install_tracing

        install_tracing(bus)
    with _state.lock:
        current = list(_state.infos.values())
    return [
        attrs.evolve(i, error=failed[i.name]) if i.error is None and i.name in failed else i
        for i in current
    ]


def _register_on(bus: MessageBus, names: list[str], lenient: bool) -> dict[str, str]:
    """Register the plugins ``names`` (not yet registered there) on ``bus``, then start
    those not started; returns the registration and startup errors (lenient mode) by name."""
    with _state.lock:
        # The names of the plugins registered (and started) on this bus live on the
        # bus, so that bus.reset() forgets them along with their handlers.
        done: list[str] = bus.extensions.setdefault(_EXTENSION, [])
        started: dict[str, _ShutDown] = bus.extensions.setdefault(_STARTED, {})
        # Each plugin's place in the middleware chains is fixed by the first attempt to
        # register it, in load order: one that fails (also on a restart after close) and
        # is registered again goes back there.
        slots = reserve_slots(bus, names)
        failed: dict[str, str] = {}
        for name in names:
            if name in done:
                continue
            exc = register_all(bus, name, slots[name], call_plugin_hook)
            if exc is None:
                done.append(name)
                continue
            refused = _hook_error(name, "could not register its handlers", exc)
            # Like a failed startup, refused on this bus only (another may have taken a
            # command of the plugin): not recorded on its info; the next call retries.
            failed[name] = str(refused)
            _fail(refused, lenient, None, stacklevel=4)  # warn at register_handlers()'s caller
        for name in names:
            if name in done and name not in started and _state.pm.has_plugin(name):
                # Armed before startup, so that the close callbacks the plugin adds there
                # run before its shutdown, and those of plugins started later before both
                # (nested like a stack).
                shut_down = _ShutDown(bus, name)
                bus.on_close(shut_down)
                error = _start(bus, name)
                if error is None:
                    started[name] = shut_down
                    continue
                bus._drop_close_callback(shut_down)  # not started: nothing to shut down
                # A plugin that did not start contributes nothing, so nothing dispatches
                # to it; done under the lock, before raising, so no other registration
                # interleaves. The next register_handlers() call registers it again.
                # Its middleware slot stays reserved for that next registration.
                undo(bus, name)
                done.remove(name)
                failed[name] = str(error)
                # Not recorded on the plugin's info: it failed on this bus only.
                _fail(error, lenient, None, stacklevel=4)  # warn at register_handlers()'s caller
        return failed


def _start(bus: MessageBus, name: str) -> PluginLoadError | None:
    """Run one plugin's ``startup`` hook; return the error it raised, as a PluginLoadError."""
    try:
        call_plugin_hook(name, "startup", bus=bus)
    except FAILURES as exc:
        return _hook_error(name, "failed in its startup hook", exc)
    return None


@attrs.define(eq=False)  # compared by identity: it stands for one start of the plugin
class _ShutDown:
    """The close callback armed for one start of plugin ``name`` on ``bus``."""

    bus: MessageBus
    name: str

    def __call__(self) -> None:
        """Run the plugin's ``shutdown`` hook, unless this start is over (_stop, bus.reset())."""
        with _state.lock:
            started: dict[str, _ShutDown] = self.bus.extensions.get(_STARTED, {})
            if started.get(self.name) is not self:
                return
            del started[self.name]
        errors = _run_shutdown(self.bus, [self.name])
        if errors:  # raised on its own: close() gathers it with the other callbacks' errors
            raise errors[0]


def _stop(bus: MessageBus, names: list[str]) -> list[PluginLoadError]:
    """Shut down those of ``names`` that are started on ``bus``, as closing it would.

    They count as not started afterwards, so closing the bus does not shut them down
    again (nor does a second call); returns the errors of their ``shutdown`` hooks.
    """
    with _state.lock:
        started: dict[str, _ShutDown] = bus.extensions.get(_STARTED, {})
        stopping = [name for name in started if name in names]
        for name in stopping:
            bus._drop_close_callback(started.pop(name))
    return _run_shutdown(bus, stopping)


def _run_shutdown(bus: MessageBus, started: list[str]) -> list[PluginLoadError]:
    """Run the ``shutdown`` hook of each plugin, last started first; return the errors."""
    errors: list[PluginLoadError] = []
    for name in reversed(started):
        if not _state.pm.has_plugin(name):
            continue
        try:
            call_plugin_hook(name, "shutdown", bus=bus)
        except FAILURES as exc:
            errors.append(_hook_error(name, "failed in its shutdown hook", exc))
    return errors


def _hook_error(name: str, what: str, exc: BaseException) -> PluginLoadError:
    """``plugin 'name' from dist version <what>: <exc>``, with ``exc`` chained."""
    info = _state.infos.get(name)
    error = PluginLoadError(
        f"plugin {name!r}{_origin(info)} {what}: {type(exc).__name__}: {exc}",
        plugin=name,
        distribution=info.distribution if info else None,
    )
    error.__cause__ = exc
    return error


def _reset_for_tests() -> None:
    """Forget every loaded plugin (tests only; a real process loads plugins once)."""
    global _state
    _state = _State()
