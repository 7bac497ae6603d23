"""A failing disk never takes the bus down: writes are dropped, counted, logged once, resumed."""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path
from typing import Any

import llmgine_audit
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import CreateResourceCommand
from llmgine.messages.events import Event, ResourceCreatedEvent, SystemEvent
from llmgine_audit import AuditLog


def audit_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "llmgine.audit" and r.levelno >= logging.ERROR]


@pytest.fixture
def reports(bus: MessageBus) -> list[Event]:
    """The plugin's own system.audit.* reports, as another subscriber sees them."""
    seen: list[Event] = []
    bus.subscribe_event("system.audit.*", seen.append)
    return seen


def create_and_dispatch(bus: MessageBus) -> str:
    """A command whose handler queues an event: the dispatch must still succeed."""

    def handle(command: CreateResourceCommand) -> str:
        bus.add_pending_event(ResourceCreatedEvent(resource_id="res_1", resource_type="t"))
        return "res_1"

    if CreateResourceCommand not in bus.command_handlers():
        bus.register_command(CreateResourceCommand, handle)
    return bus.dispatch(CreateResourceCommand(resource_type="t", resource_data={}))


def test_a_missing_directory_drops_events_until_it_exists_then_writing_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "not-yet"
    bus = MessageBus.isolated(strict=True)  # strict: a raising subscriber would fail the dispatch
    reports: list[Event] = []
    bus.subscribe_event("system.audit.*", reports.append)

    with caplog.at_level(logging.WARNING, logger="llmgine.audit"):
        llmgine_audit.install(bus, log=missing / "audit.jsonl")  # startup reports it
        log = llmgine_audit.get_audit_log(bus)
        assert log is not None
        for _ in range(3):
            assert create_and_dispatch(bus) == "res_1"
        assert log.failing
        assert log.dropped == 4  # three resource events and the system.audit.error report
        assert len(audit_errors(caplog)) == 1  # once per failure streak, not per event
        assert str(missing) in audit_errors(caplog)[0].getMessage()
        assert "No such file or directory" in (log.last_error or "")
        assert [e.event_type for e in reports] == ["system.audit.error"]

        missing.mkdir()
        create_and_dispatch(bus)

    assert not log.failing
    assert [e.event_type for e in reports] == ["system.audit.error", "system.audit.info"]
    lines = [json.loads(text) for text in (missing / "audit.jsonl").read_text().splitlines()]
    written = [(x["event_type"], x["data"].get("details", {}).get("dropped_total")) for x in lines]
    assert written == [("resource.created", None), ("system.audit.info", 4)]
    assert log.written == 2


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_never_fails_a_dispatch_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = MessageBus.isolated(strict=True)
    llmgine_audit.install(bus, log="/dev/full")  # every write fails with ENOSPC
    with caplog.at_level(logging.WARNING, logger="llmgine.audit"):
        for _ in range(5):
            assert create_and_dispatch(bus) == "res_1"
            bus.emit(SystemEvent(component="app", severity="info", message="x"))
    log = llmgine_audit.get_audit_log(bus)
    assert log is not None
    assert log.dropped == 11  # 10 events and the one system.audit.error report
    assert log.written == 0
    assert "No space left on device" in (log.last_error or "")
    assert len(audit_errors(caplog)) == 1


def test_a_line_cut_short_by_a_failure_is_ended_so_later_lines_parse(
    bus: MessageBus,
    audit_log: AuditLog,
    log_path: Path,
    reports: list[Event],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bus.emit(SystemEvent(component="app", severity="info", message="before"))
    real_write = os.write
    calls = 0

    def half_then_full(target: int, data: Any) -> int:
        # The audit file takes half a line, then reports a full disk; other fds are untouched.
        nonlocal calls
        if target != audit_log._fd:
            return real_write(target, data)
        calls += 1
        if calls == 1:
            return real_write(target, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half_then_full)
    bus.emit(SystemEvent(component="app", severity="info", message="cut short"))
    monkeypatch.undo()
    bus.emit(SystemEvent(component="app", severity="info", message="after"))

    lines = log_path.read_text().splitlines()
    assert len(lines) == 4
    assert '"message":"cut short"' not in lines[1]  # the first half of that line only
    parsed = [json.loads(lines[i]) for i in (0, 2, 3)]
    assert [p["data"]["message"] for p in parsed[:2]] == ["before", "after"]
    assert parsed[2]["event_type"] == "system.audit.info"
    assert [e.event_type for e in reports] == ["system.audit.error", "system.audit.info"]
    assert (audit_log.written, audit_log.dropped) == (3, 2)
