"""The plugin's state on one bus: which file its audit log goes to.

Set with ``install(bus, log=path)`` or, without it, ``LLMGINE_AUDIT_LOG``. Each bus has
its own :class:`AuditState` (in a :class:`~llmgine.plugins.BusState`), so two buses in
one process can write two logs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from llmgine.messages.bus import MessageBus, message_bus
from llmgine.plugins import BusState, install_plugin

from ._log import AuditLog

if TYPE_CHECKING:
    from llmgine.plugins import PluginInfo

__all__ = ["LOG_ENV", "AuditState", "find_state", "get_audit_log", "install", "state_of"]

#: Path of the JSON-lines audit log; unset or empty: the plugin stays idle.
LOG_ENV = "LLMGINE_AUDIT_LOG"

#: The entry-point name the plugin is registered under.
PLUGIN_NAME = "audit"


class AuditState:
    """The audit log of one bus (``None``: idle), and whether a startup failure awaits its report.

    The report of a file that cannot be opened at startup cannot always be published
    then (an ``async def`` subscriber refuses ``emit``); ``unreported`` makes the next
    event carry it.
    """

    __slots__ = ("log", "unreported")

    def __init__(self, log: AuditLog | None) -> None:
        self.log = log
        self.unreported = False

    @classmethod
    def from_env(cls) -> AuditState:
        """The state ``LLMGINE_AUDIT_LOG`` describes (a state made without ``install``)."""
        path = os.environ.get(LOG_ENV)
        return cls(AuditLog(path) if path else None)


_STATE: BusState[AuditState] = BusState("llmgine-audit")


def state_of(bus: MessageBus = message_bus) -> AuditState:
    """The plugin's state on ``bus``; made from the environment if ``install`` gave none."""
    return _STATE.setdefault(bus, AuditState.from_env)


def find_state(bus: MessageBus) -> AuditState | None:
    """The plugin's state on ``bus``, or ``None`` if none was made there yet."""
    return _STATE.get(bus)


def get_audit_log(bus: MessageBus = message_bus) -> AuditLog | None:
    """Return the audit log of ``bus``, or ``None`` while the plugin is idle there."""
    return state_of(bus).log


def install(bus: MessageBus, *, log: str | os.PathLike[str] | None = None) -> PluginInfo:
    """Append every event of ``bus`` to the file ``log`` (like ``LLMGINE_AUDIT_LOG``).

    Without ``log``, the file ``LLMGINE_AUDIT_LOG`` names, else idle. Registers and
    starts the plugin on ``bus`` (idempotent; ``register_handlers(bus)`` before or
    after keeps this file). Called again with another file, it moves that bus's log:
    the old file is closed and the next event goes to the new one. Other buses are
    unaffected. Returns the plugin's :class:`~llmgine.plugins.PluginInfo`.
    """
    if log is not None and not isinstance(log, str | os.PathLike):
        raise TypeError(f"llmgine_audit.install(log=...) needs a file path, got {log!r}")
    old = _STATE.get(bus)
    if log is None:
        state = AuditState.from_env()
    elif old is not None and old.log is not None and old.log.path == AuditLog(log).path:
        state = old  # the same file: the same log, still open
    else:
        state = AuditState(AuditLog(log))
    _STATE.set(bus, state)
    if old is not None and old.log is not None and old.log is not state.log:
        old.log.close()
    from . import plugin  # (the plugin module imports this one)

    info = install_plugin(bus, PLUGIN_NAME, plugin)
    plugin.attach(bus)  # started before with no file, it subscribed nothing
    return info
