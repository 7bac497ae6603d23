"""Fixtures for the llmgine-audit tests: a log installed on an isolated bus, in a temp dir."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import llmgine_audit
import pytest
from llmgine.messages.bus import MessageBus, message_bus
from llmgine_audit import LOG_ENV, AuditLog


@pytest.fixture(autouse=True)
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts idle (no env var) and ends with the process-wide bus emptied."""
    monkeypatch.delenv(LOG_ENV, raising=False)
    yield
    log = llmgine_audit.get_audit_log(message_bus)
    if log is not None:
        log.close()
    message_bus.reset()


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """Where the installed audit log is written."""
    return tmp_path / "audit.jsonl"


@pytest.fixture
def plain_bus() -> Iterator[MessageBus]:
    """A strict isolated bus (closed at the end, which closes its log)."""
    bus = MessageBus.isolated(strict=True)
    yield bus
    bus.close()


@pytest.fixture
def audit_log(plain_bus: MessageBus, log_path: Path) -> AuditLog:
    """The plugin installed on ``plain_bus``, writing to ``log_path``."""
    llmgine_audit.install(plain_bus, log=log_path)
    log = llmgine_audit.get_audit_log(plain_bus)
    assert log is not None
    return log


@pytest.fixture
def bus(plain_bus: MessageBus, audit_log: AuditLog) -> MessageBus:
    """A strict isolated bus with the plugin installed on it, writing to ``log_path``."""
    return plain_bus


@pytest.fixture
def read_log(log_path: Path) -> Callable[[], list[dict[str, Any]]]:
    """Return a function that parses every line of the audit log."""
    return lambda: [json.loads(line) for line in log_path.read_text().splitlines()]
