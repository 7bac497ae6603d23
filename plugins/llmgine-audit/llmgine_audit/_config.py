"""Which file the audit log goes to: ``configure(path=...)`` or ``LLMGINE_AUDIT_LOG``."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from ._log import AuditLog

__all__ = ["LOG_ENV", "configure", "get_audit_log"]

#: Path of the JSON-lines audit log; unset or empty: the plugin stays idle.
LOG_ENV = "LLMGINE_AUDIT_LOG"

_lock = threading.Lock()
_log: AuditLog | None = None
#: whether _log was settled (by configure() or a first look at the environment)
_resolved = False


#: Called after ``configure()`` named a file; the plugin module adds the function that
#: subscribes the log on the buses it is loaded on (kept apart so this module needs no bus).
on_configured: list[Callable[[], None]] = []


def configure(path: str | os.PathLike[str] | None) -> None:
    """Write the audit log to ``path`` from now on (``None``: back to ``LLMGINE_AUDIT_LOG``).

    Before ``register_handlers()`` it activates an otherwise idle plugin; after it,
    it also subscribes the log on every bus the plugin is loaded on (an idle plugin
    subscribes nothing). Called again with another path, it moves the log there: the
    old file is closed and the next event goes to the new one.
    """
    global _log, _resolved
    with _lock:
        old = _log
        if path is not None and old is not None and old.path == Path(path):
            return
        _log = AuditLog(path) if path is not None else None
        _resolved = path is not None
    if old is not None and old is not _log:
        old.close()
    if path is not None:
        for attach in on_configured:
            attach()


def get_audit_log() -> AuditLog | None:
    """Return the audit log in use, or ``None`` while the plugin is idle (nothing configured)."""
    global _log, _resolved
    if _resolved:
        return _log
    with _lock:
        if not _resolved:
            path = os.environ.get(LOG_ENV)
            if path:
                _log, _resolved = AuditLog(path), True
        return _log
