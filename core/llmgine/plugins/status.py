"""How a plugin reports whether it is doing anything (``llmgine plugins`` shows it)."""

from __future__ import annotations

import attrs

__all__ = ["PluginStatus"]


@attrs.frozen
class PluginStatus:
    """Returned by a plugin's ``plugin_status`` hook.

    A plugin that touches the outside world (files, network) stays idle until it is
    configured, so installing it changes nothing by itself. ``activate`` tells the
    user how to switch it on, e.g. ``"set LLMGINE_AUDIT_LOG=/path/to/audit.jsonl"``.
    """

    active: bool
    detail: str = ""
    activate: str | None = None
