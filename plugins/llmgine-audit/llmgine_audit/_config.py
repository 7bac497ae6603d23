"""Which file the audit log goes to: ``configure(path=...)`` or ``LLMGINE_AUDIT_LOG``."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ._log import AuditLog

__all__ = ["LOG_ENV", "configure", "get_audit_log"]

#: Path of the JSON-lines audit log; unset or empty: the plugin stays idle.
LOG_ENV = "LLMGINE_AUDIT_LOG"

_lock = threading.Lock()
_log: AuditLog | None = None
#: whether _log was settled (by configure() or a first look at the environment)
_resolved = False


def configure(path: str | os.PathLike[str] | None) -> None:
    """Write the audit log to ``path`` from now on (``None``: back to ``LLMGINE_AUDIT_LOG``).

    Call it before ``register_handlers()`` to activate an otherwise idle plugin
    (an idle plugin subscribes nothing). Called later with another path, it moves
    the log there: the old file is closed and the next event goes to the new one.
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
