"""An audit log path that cannot be written, as a process (``llmgine worker``, an app) logs
it at startup: the file, the error, and what to do about it. The bus keeps working."""

from __future__ import annotations

import logging
from pathlib import Path

import llmgine_audit
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.events import ResourceDeletedEvent


@pytest.mark.parametrize("case", ["directory", "missing-directory", "file-as-directory"])
def test_a_bad_log_path_is_logged_at_startup_with_what_to_do(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("")
    path, fix = {
        "directory": (
            tmp_path,
            "it is a directory: set LLMGINE_AUDIT_LOG (or log=) to a file path",
        ),
        "missing-directory": (
            tmp_path / "nope" / "audit.jsonl",
            f"its directory {tmp_path / 'nope'} does not exist: create it, or fix the path",
        ),
        "file-as-directory": (
            text / "audit.jsonl",
            "a part of its path is a file, not a directory: fix LLMGINE_AUDIT_LOG (or log=)",
        ),
    }[case]
    bus = MessageBus.isolated(strict=True)
    with caplog.at_level(logging.ERROR, logger="llmgine.audit"):
        llmgine_audit.install(bus, log=path)
    [record] = [r for r in caplog.records if r.name == "llmgine.audit"]
    message = record.getMessage()
    assert message.startswith(f"cannot write the audit log {path} (")
    assert f"); {fix}; events are dropped and counted until it is writable again" in message
    bus.emit(ResourceDeletedEvent(resource_id="r", resource_type="t"))  # still works
    bus.close()
