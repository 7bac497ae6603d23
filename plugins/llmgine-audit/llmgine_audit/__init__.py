"""llmgine-audit: appends every event to a JSON-lines audit log, one per bus.

Idle until configured: set ``LLMGINE_AUDIT_LOG=/path/to/audit.jsonl`` before
``register_handlers()``, or call ``llmgine_audit.install(bus, log=path)`` (before or
after it). Each line holds the event's type, id, ISO timestamp, correlation and
causation ids, class and fields (see :func:`event_record`).
"""

from ._deprecated import configure
from ._log import AuditLog
from ._record import event_record, to_json_line
from ._state import FILE_MODE_ENV, LOG_ENV, AuditState, get_audit_log, install, state_of

__all__ = [
    "FILE_MODE_ENV",
    "LOG_ENV",
    "AuditLog",
    "AuditState",
    "configure",
    "event_record",
    "get_audit_log",
    "install",
    "state_of",
    "to_json_line",
]
