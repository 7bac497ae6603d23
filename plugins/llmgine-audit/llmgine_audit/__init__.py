"""llmgine-audit: appends every event to a JSON-lines audit log.

Idle until configured: set ``LLMGINE_AUDIT_LOG=/path/to/audit.jsonl`` before
``register_handlers()``, or call ``llmgine_audit.configure(path=...)`` (before or
after it: afterwards, it subscribes the log on the buses the plugin is on). Each line
holds the event's type, id, ISO timestamp, correlation and causation ids, class
and fields (see :func:`event_record`).
"""

from ._config import LOG_ENV, configure, get_audit_log
from ._log import AuditLog
from ._record import event_record, to_json_line

__all__ = ["LOG_ENV", "AuditLog", "configure", "event_record", "get_audit_log", "to_json_line"]
