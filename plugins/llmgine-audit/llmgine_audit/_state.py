"""The plugin's state on one bus: which file its audit log goes to.

Set with ``install(bus, log=path, file_mode=...)`` or, without them, ``LLMGINE_AUDIT_LOG``
and ``LLMGINE_AUDIT_FILE_MODE``. Each bus has
its own :class:`AuditState` (in a :class:`~llmgine.plugins.BusState`), so two buses in
one process can write two logs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from llmgine.messages.bus import MessageBus, message_bus
from llmgine.plugins import BusState, install_plugin
from llmgine.plugins.files import file_mode_setting

from ._log import AuditLog

if TYPE_CHECKING:
    from llmgine.plugins import PluginInfo

__all__ = [
    "FILE_MODE_ENV",
    "LOG_ENV",
    "AuditState",
    "find_state",
    "get_audit_log",
    "install",
    "state_of",
]

#: Path of the JSON-lines audit log; unset or empty: the plugin stays idle.
LOG_ENV = "LLMGINE_AUDIT_LOG"

#: Mode of a log file the plugin creates (octal, e.g. 0640); unset: 0600.
FILE_MODE_ENV = "LLMGINE_AUDIT_FILE_MODE"

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
    def from_env(cls, file_mode: int | str | None = None) -> AuditState:
        """The state ``LLMGINE_AUDIT_LOG`` describes (a state made without ``install``).

        ``file_mode`` (``install``'s) or else ``LLMGINE_AUDIT_FILE_MODE`` is the mode the
        file is created with; a bad value raises, naming where it came from.
        """
        mode = file_mode_setting(file_mode, FILE_MODE_ENV, "llmgine_audit.install()")
        path = os.environ.get(LOG_ENV)
        return cls(AuditLog(path, file_mode=mode) if path else None)


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


def install(
    bus: MessageBus,
    *,
    log: str | os.PathLike[str] | None = None,
    file_mode: int | str | None = None,
) -> PluginInfo:
    """Append every event of ``bus`` to the file ``log`` (like ``LLMGINE_AUDIT_LOG``).

    Without ``log``, the file ``LLMGINE_AUDIT_LOG`` names, else idle. A missing file
    is created with mode ``file_mode`` (like ``LLMGINE_AUDIT_FILE_MODE``: an octal
    string such as ``"0640"``, or an int; default 0600); an existing file keeps its
    mode. Registers and starts the plugin on ``bus`` (idempotent;
    ``register_handlers(bus)`` before or after keeps this file). Called again with
    another file, it moves that bus's log:
    the old file is closed and the next event goes to the new one. Other buses are
    unaffected. Returns the plugin's :class:`~llmgine.plugins.PluginInfo`.
    """
    if log is not None and not isinstance(log, str | os.PathLike):
        raise TypeError(f"llmgine_audit.install(log=...) needs a file path, got {log!r}")
    mode = file_mode_setting(file_mode, FILE_MODE_ENV, "llmgine_audit.install()")
    old = _STATE.get(bus)
    if log is None:
        state = AuditState.from_env(mode)
    elif (
        old is not None
        and old.log is not None
        and (old.log.path, old.log.file_mode) == (AuditLog(log).path, mode)
    ):
        state = old  # the same file: the same log, still open
    else:
        state = AuditState(AuditLog(log, file_mode=mode))
    _STATE.set(bus, state)
    if old is not None and old.log is not None and old.log is not state.log:
        old.log.close()
    from . import plugin  # (the plugin module imports this one)

    info = install_plugin(bus, PLUGIN_NAME, plugin)
    plugin.attach(bus)  # started before with no file, it subscribed nothing
    return info
