"""What one plugin registered on one bus through its hooks, kept so it can be undone.

The plugin loader hands these methods to a plugin's ``register_*`` hooks, and undoes
everything when the registration fails part-way or the plugin's ``startup`` fails.
The plugin's middleware goes into a slot of the bus's chains reserved for it (see
:func:`reserve_slots`), so that registered again after a failure it lands where it
would have landed the first time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from ..messages import _middleware
from ..messages._naming import type_name
from ..messages.bus import MessageBus
from ..messages.errors import CommandHandlerNotFound

__all__ = [
    "FAILURES",
    "REGISTRATIONS",
    "SLOTS",
    "Registrations",
    "register_all",
    "remove",
    "reserve_slots",
    "undo",
]

#: What a plugin's code may raise that counts as a failure of that plugin: ``sys.exit()``
#: in a hook (say, "install X first") must not end the application unannounced.
FAILURES = (Exception, SystemExit)

#: Key of ``MessageBus.extensions`` holding, per plugin name, what it registered on a bus.
REGISTRATIONS = "llmgine.plugins.registrations"
#: Key of ``MessageBus.extensions`` holding, per plugin name, the middleware slot reserved
#: for it on a bus by the first attempt to register it there.
SLOTS = "llmgine.plugins.slots"


def reserve_slots(bus: MessageBus, names: list[str]) -> dict[str, int]:
    """Reserve a middleware slot on ``bus`` for each of ``names`` (in this order, their load
    order) that has none yet; returns every plugin's slot by name (a live dict)."""
    slots: dict[str, int] = bus.extensions.setdefault(SLOTS, {})
    for name in names:
        if name not in slots:
            slots[name] = _middleware.reserve_slot(bus)
    return slots


def register_all(
    bus: MessageBus, name: str, slot: int, call_hook: Callable[..., Any]
) -> Exception | SystemExit | None:
    """Register plugin ``name``'s commands, subscribers and middleware on ``bus`` (into
    middleware slot ``slot``), all or nothing, calling its hooks with
    ``call_hook(name, hook, **arguments)``; returns the exception that undid them."""
    done = Registrations(bus, name, slot)
    try:
        call_hook(name, "register_commands", register=done.register, bus=bus)
        call_hook(name, "register_subscribers", subscribe=done.subscribe, bus=bus)
        call_hook(
            name,
            "register_middleware",
            add_command_middleware=done.add_command_middleware,
            add_event_middleware=done.add_event_middleware,
            bus=bus,
        )
    except FAILURES as exc:
        done.undo()
        return exc
    done.keep()
    return None


def undo(bus: MessageBus, name: str) -> None:
    """Remove what plugin ``name`` registered on ``bus``, if anything; its middleware slot
    stays reserved (for registering it again, e.g. after its ``startup`` failed)."""
    registered: dict[str, Registrations] = bus.extensions.get(REGISTRATIONS, {})
    if name in registered:
        registered.pop(name).undo()


def remove(bus: MessageBus, name: str) -> None:
    """Remove what plugin ``name`` registered on ``bus`` and its middleware slot there (for
    unloading it; the caller has shut it down and dropped it from the bus's plugin list)."""
    undo(bus, name)
    bus.extensions.get(SLOTS, {}).pop(name, None)


class Registrations:
    """The commands, subscriptions and middleware plugin ``name`` added to ``bus``.

    Its middleware goes into middleware slot ``slot`` of the bus (``None``: innermost).
    """

    __slots__ = ("_bus", "_commands", "_name", "_removers", "_slot", "_subscriptions", "source")

    def __init__(self, bus: MessageBus, name: str, slot: int | None) -> None:
        self._bus = bus
        self._name = name
        self._slot = slot
        #: what the bus names as the handlers' origin in error messages
        self.source = f"plugin {name!r}"
        self._commands: list[type] = []
        self._subscriptions: list[Any] = []
        self._removers: list[Callable[[], None]] = []

    def register(self, command_type: Any, handler: Callable[[Any], Any]) -> None:
        """The ``register`` argument of ``register_commands``."""
        self._bus.register_command(command_type, handler, source=self.source)
        self._commands.append(command_type)

    def subscribe(self, key: Any, handler: Callable[[Any], Any]) -> None:
        """The ``subscribe`` argument of ``register_subscribers``."""
        self._subscriptions.append(self._bus.subscribe_event(key, handler))

    def add_command_middleware(self, middleware: Any) -> None:
        """The ``add_command_middleware`` argument of ``register_middleware``."""
        self._removers.append(_middleware.install(self._bus, "command", middleware, self._slot))

    def add_event_middleware(self, middleware: Any) -> None:
        """The ``add_event_middleware`` argument of ``register_middleware``."""
        self._removers.append(_middleware.install(self._bus, "event", middleware, self._slot))

    def described(self) -> tuple[list[str], list[str]]:
        """The command types and subscription keys recorded here, as text."""
        keys = [s.key for s in self._subscriptions]
        return (
            [type_name(c) for c in self._commands],
            [type_name(k) if isinstance(k, type) else str(k) for k in keys],
        )

    def keep(self) -> None:
        """Record these on the bus, for :func:`undo` and :func:`remove` to find."""
        self._bus.extensions.setdefault(REGISTRATIONS, {})[self._name] = self

    def undo(self) -> None:
        """Remove everything recorded here from the bus (what is gone already is skipped)."""
        bus = self._bus
        for command_type in self._commands:
            # Only the plugin's own handler: one the app put in its place since stays.
            if bus.command_handlers().get(command_type, (None, None))[1] == self.source:
                with contextlib.suppress(CommandHandlerNotFound):  # gone meanwhile: as wanted
                    bus.unregister_command(command_type)
        for subscription in self._subscriptions:
            subscription.unsubscribe()
        for remove in self._removers:
            remove()
        self._commands.clear()
        self._subscriptions.clear()
        self._removers.clear()
