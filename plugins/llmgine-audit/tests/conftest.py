"""Fixtures for the llmgine-audit tests: a configured log in a temp dir and an isolated bus."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import llmgine_audit
import pytest
from llmgine.messages.bus import MessageBus
from llmgine_audit import LOG_ENV, AuditLog
from llmgine_audit import plugin as audit_plugin


@pytest.fixture(autouse=True)
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts and ends with the plugin idle (no env var, nothing configured)."""
    monkeypatch.delenv(LOG_ENV, raising=False)
    llmgine_audit.configure(None)
    yield
    log = llmgine_audit.get_audit_log()
    if log is not None:
        log.close()
    llmgine_audit.configure(None)


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """Where the configured audit log is written."""
    return tmp_path / "audit.jsonl"


@pytest.fixture
def audit_log(log_path: Path) -> AuditLog:
    """The plugin configured (through the API) to write to ``log_path``."""
    llmgine_audit.configure(path=log_path)
    log = llmgine_audit.get_audit_log()
    assert log is not None
    return log


@pytest.fixture
def bus(audit_log: AuditLog) -> MessageBus:
    """A strict isolated bus with the plugin's subscriber registered through its hook."""
    bus = MessageBus.isolated(strict=True)
    audit_plugin.register_subscribers(subscribe=bus.subscribe_event)
    return bus


@pytest.fixture
def read_log(log_path: Path) -> Callable[[], list[dict[str, Any]]]:
    """Return a function that parses every line of the audit log."""
    return lambda: [json.loads(line) for line in log_path.read_text().splitlines()]
