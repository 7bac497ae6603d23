"""What one plugin registered on one bus through its hooks, kept so it can be undone.

The plugin host hands these methods to a plugin's ``register_*`` hooks, and undoes
everything when the registration fails part-way or the plugin's ``startup`` fails.
The plugin's middleware goes into a slot of the bus's chains reserved for it
(``bus.reserve_middleware_slot()``), so that registered again after a failure it
lands where it would have landed the first time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from ..messages._naming import type_name
from ..messages.bus import MessageBus
from ..messages.errors import CommandHandlerNotFound

__all__ = ["Registrations"]


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

    def subscribe(self, key: Any, handler: Callable[[Any], Any], **keywords: Any) -> None:
        """The ``subscribe`` argument of ``register_subscribers``; ``keywords`` are those
        of ``subscribe_event`` (``priority``, ``background``, ...), checked there."""
        self._subscriptions.append(self._bus.subscribe_event(key, handler, **keywords))

    def add_command_middleware(self, middleware: Any) -> None:
        """The ``add_command_middleware`` argument of ``register_middleware``."""
        self._removers.append(self._bus.add_command_middleware(middleware, slot=self._slot))

    def add_event_middleware(self, middleware: Any) -> None:
        """The ``add_event_middleware`` argument of ``register_middleware``."""
        self._removers.append(self._bus.add_event_middleware(middleware, slot=self._slot))

    def command_types(self) -> list[type]:
        """The command types registered here, in order."""
        return list(self._commands)

    def subscriptions(self) -> list[Any]:
        """The :class:`~llmgine.messages.bus.Subscription` objects made here, in order."""
        return list(self._subscriptions)

    def described(self) -> tuple[list[str], list[str]]:
        """The command types and subscription keys recorded here, as text."""
        keys = [s.key for s in self._subscriptions]
        return (
            [type_name(c) for c in self._commands],
            [type_name(k) if isinstance(k, type) else str(k) for k in keys],
        )

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
