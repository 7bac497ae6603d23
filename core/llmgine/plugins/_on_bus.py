"""What a plugin host installed on one bus: the typed record, and registering, starting
and stopping plugins there.

The record lives in a :class:`~llmgine.plugins.BusState` of its host, so ``bus.reset()``
forgets it along with the handlers, and a fresh host (in tests) sees a clean bus.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..messages.bus import MessageBus
from ._registrations import Registrations
from .errors import PluginLoadError, is_plugin_failure

if TYPE_CHECKING:
    from .host import PluginHost

__all__ = [
    "BusPlugins",
    "ShutDown",
    "provided_by",
    "register_on",
    "registrations",
    "remove",
    "stop",
]


def _nothing() -> None:
    """The canceller of a callback not armed yet."""


class ShutDown:
    """The close callback armed for one start of plugin ``name`` on ``bus``.

    Compared by identity: it stands for one start of the plugin. (Plain classes here and
    in :class:`BusPlugins`, not attrs: building an attrs class costs more at import
    than all the rest of this module.)
    """

    __slots__ = ("bus", "cancel", "host", "name")

    def __init__(self, host: PluginHost, bus: MessageBus, name: str) -> None:
        self.host = host
        self.bus = bus
        self.name = name
        #: takes the callback back from ``bus.on_close`` unrun
        self.cancel: Callable[[], None] = _nothing

    def __call__(self) -> None:
        """Run the plugin's ``shutdown`` hook, unless this start is over (stop, bus.reset())."""
        record = self.host.record(self.bus)
        with self.host.lock:
            if record.started.get(self.name) is not self:
                return
            del record.started[self.name]
        errors = run_shutdown(self.host, self.bus, [self.name])
        if errors:  # raised on its own: close() gathers it with the other callbacks' errors
            raise errors[0]


class BusPlugins:
    """What one plugin host installed on one bus (see :meth:`PluginHost.record`)."""

    __slots__ = ("registered", "registrations", "slots", "started")

    def __init__(self) -> None:
        #: the plugins whose handlers are registered there, in registration order
        self.registered: list[str] = []
        #: the plugins started there, in start order, each with the close callback that
        #: shuts it down
        self.started: dict[str, ShutDown] = {}
        #: each plugin's middleware slot, reserved by the first attempt to register it
        self.slots: dict[str, int] = {}
        #: what each registered plugin added there, to undo it
        self.registrations: dict[str, Registrations] = {}

    def __repr__(self) -> str:
        return f"<BusPlugins registered={self.registered} started={list(self.started)}>"

    def reserve_slots(self, bus: MessageBus, names: list[str]) -> None:
        """Reserve a middleware slot on ``bus`` for each of ``names`` (in this order, their
        load order) that has none yet."""
        for name in names:
            if name not in self.slots:
                self.slots[name] = bus.reserve_middleware_slot()

    def undo(self, name: str) -> None:
        """Remove what plugin ``name`` registered, if anything; its middleware slot stays
        reserved (for registering it again, e.g. after its ``startup`` failed)."""
        if name in self.registrations:
            self.registrations.pop(name).undo()


def register_all(host: PluginHost, bus: MessageBus, name: str, slot: int | None) -> Registrations:
    """Register plugin ``name``'s commands, subscribers and middleware on ``bus`` (into
    middleware slot ``slot``), all or nothing; raises what its hook raised.

    ``slot=None`` calls no middleware hook (``llmgine plugins`` only lists the others).
    """
    done = Registrations(bus, name, slot)
    try:
        host.call_hook(name, "register_commands", register=done.register, bus=bus)
        host.call_hook(name, "register_subscribers", subscribe=done.subscribe, bus=bus)
        if slot is not None:
            host.call_hook(
                name,
                "register_middleware",
                add_command_middleware=done.add_command_middleware,
                add_event_middleware=done.add_event_middleware,
                bus=bus,
            )
    except BaseException:
        done.undo()
        raise
    return done


def register_on(
    host: PluginHost, bus: MessageBus, names: list[str], lenient: bool, stacklevel: int
) -> dict[str, str]:
    """Register the plugins ``names`` (not yet registered there) on ``bus``, then start
    those not started; returns the registration and startup errors (lenient mode) by name.

    In strict mode the first error is raised at once; ``stacklevel`` places the
    warnings of lenient mode at the caller of the public function.
    """
    with host.lock:
        record = host.record(bus)
        # Each plugin's place in the middleware chains is fixed by the first attempt to
        # register it, in load order: one that fails (also on a restart after close) and
        # is registered again goes back there.
        record.reserve_slots(bus, names)
        failed: dict[str, str] = {}
        for name in names:
            if name in record.registered:
                continue
            try:
                record.registrations[name] = register_all(host, bus, name, record.slots[name])
            except BaseException as exc:
                if not is_plugin_failure(exc):
                    raise
                # Refused on this bus only (another may have taken a command of the
                # plugin): not recorded on its info; the next call retries.
                refused = host.hook_error(name, "could not register its handlers", exc)
                failed[name] = str(refused)
                host.fail(refused, lenient, stacklevel=stacklevel + 1)
                continue
            record.registered.append(name)
        for name in names:
            if name in record.registered and name not in record.started:
                error = _start(host, bus, record, name)
                if error is not None:  # not recorded on its info: it failed on this bus only
                    failed[name] = str(error)
                    host.fail(error, lenient, stacklevel=stacklevel + 1)
        return failed


def _start(
    host: PluginHost, bus: MessageBus, record: BusPlugins, name: str
) -> PluginLoadError | None:
    """Run plugin ``name``'s ``startup`` hook on ``bus``; undo its registration if it fails."""
    # Armed before startup, so that the close callbacks the plugin adds there run
    # before its shutdown, and those of plugins started later before both (nested
    # like a stack).
    shut_down = ShutDown(host, bus, name)
    shut_down.cancel = bus.on_close(shut_down)
    try:
        host.call_hook(name, "startup", bus=bus)
    except BaseException as exc:
        shut_down.cancel()  # not started: nothing to shut down
        # A plugin that did not start contributes nothing, so nothing dispatches to
        # it (also after a Ctrl-C); done under the lock, before raising, so no other
        # registration interleaves. The next register_handlers() call registers it
        # again; its middleware slot stays reserved for that.
        record.undo(name)
        record.registered.remove(name)
        if not is_plugin_failure(exc):
            raise
        return host.hook_error(name, "failed in its startup hook", exc)
    record.started[name] = shut_down
    return None


def stop(host: PluginHost, bus: MessageBus, names: list[str]) -> list[PluginLoadError]:
    """Shut down those of ``names`` that are started on ``bus``, as closing it would.

    They count as not started afterwards, so closing the bus does not shut them down
    again (nor does a second call); returns the errors of their ``shutdown`` hooks.
    """
    with host.lock:
        started = host.record(bus).started
        stopping = [name for name in started if name in names]
        for name in stopping:
            started.pop(name).cancel()
    return run_shutdown(host, bus, stopping)


def run_shutdown(host: PluginHost, bus: MessageBus, started: list[str]) -> list[PluginLoadError]:
    """Run the ``shutdown`` hook of each plugin, last started first; return the errors."""
    errors: list[PluginLoadError] = []
    for name in reversed(started):
        try:
            host.guarded_call(name, "shutdown", "failed in its shutdown hook", bus=bus)
        except PluginLoadError as error:
            errors.append(error)
    return errors


def remove(host: PluginHost, bus: MessageBus, name: str) -> None:
    """Take plugin ``name`` off ``bus``: its registrations and middleware slot (the caller
    has shut it down, see :func:`stop`)."""
    with host.lock:
        record = host.record(bus)
        if name in record.registered:
            record.registered.remove(name)
        record.undo(name)
        record.slots.pop(name, None)


def provided_by(host: PluginHost, name: str, bus: MessageBus) -> tuple[list[str], list[str]]:
    """The command types and subscription keys plugin ``name`` registers, as text.

    See :func:`registrations`, which this describes.
    """
    return registrations(host, name, bus).described()


def registrations(host: PluginHost, name: str, bus: MessageBus) -> Registrations:
    """What plugin ``name`` registers on ``bus``, which is left holding it.

    Calls its registration hooks (not ``register_middleware``) with ``bus``, which
    is never started, so nothing is activated but what ``register_handlers()``
    refuses (a command another plugin handles, a bad pattern) fails here too; a
    plugin that fails leaves nothing on ``bus`` and raises :class:`PluginLoadError`.
    """
    try:
        return register_all(host, bus, name, None)
    except BaseException as exc:
        if not is_plugin_failure(exc):
            raise
        raise host.hook_error(name, "could not register its handlers", exc) from exc
