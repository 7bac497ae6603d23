"""The run database is created private (0600) unless ``file_mode`` says otherwise."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import StartWorkflowCommand
from llmgine_workflows import (
    DB_ENV,
    FILE_MODE_ENV,
    RunStore,
    Workflow,
    WorkflowEngine,
    install,
    register_workflow,
)
from wf_helpers import act_step


@pytest.fixture(autouse=True)
def umask_022(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The usual umask, which leaves files world-readable; no settings from the environment."""
    monkeypatch.delenv(FILE_MODE_ENV, raising=False)
    monkeypatch.delenv(DB_ENV, raising=False)
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_one(bus: MessageBus, db: Path | None = None, **settings: object) -> None:
    """Install the plugin on ``bus`` (with ``db``) and run a one-step workflow there."""
    register_workflow(Workflow("w", [act_step("a", "A")]), bus=bus)
    install(bus, db=db, **settings)
    bus.dispatch(StartWorkflowCommand("w", {}))


def test_the_database_is_created_readable_by_its_owner_only(bus, tmp_path):
    run_one(bus, tmp_path / "runs" / "w.sqlite3")
    assert mode_of(tmp_path / "runs" / "w.sqlite3") == 0o600


def test_the_file_mode_setting_is_honoured(bus, tmp_path):
    run_one(bus, tmp_path / "w.sqlite3", file_mode="0640")
    assert mode_of(tmp_path / "w.sqlite3") == 0o640


def test_the_environment_variables_are_honoured_exactly(bus, tmp_path, monkeypatch):
    monkeypatch.setenv(DB_ENV, str(tmp_path / "w.sqlite3"))
    monkeypatch.setenv(FILE_MODE_ENV, "0660")  # group write, which the umask would drop
    run_one(bus)
    assert mode_of(tmp_path / "w.sqlite3") == 0o660


def test_an_existing_database_keeps_its_mode(bus, tmp_path):
    RunStore(tmp_path / "w.sqlite3").close()
    (tmp_path / "w.sqlite3").chmod(0o644)
    run_one(bus, tmp_path / "w.sqlite3")
    assert mode_of(tmp_path / "w.sqlite3") == 0o644


def test_an_in_memory_store_creates_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    RunStore().close()
    RunStore(":memory:", file_mode="0640").close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("given", "error", "message"),
    [
        ("0o1777", ValueError, r"'0o1777' is not a file mode"),
        ("0044", ValueError, r"'0044' \(0044\) does not let the owner read and write"),
        ([0o600], TypeError, r"must be an octal file mode .*not \[384\] \(list\)"),
    ],
)
def test_a_bad_file_mode_is_refused_naming_the_setting(bus, tmp_path, given, error, message):
    match = r"llmgine_workflows\.install\(\): setting file_mode " + message
    with pytest.raises(error, match=match):
        install(bus, db=tmp_path / "w.sqlite3", file_mode=given)
    with pytest.raises(ValueError, match=r"RunStore\(file_mode=\.\.\.\) must be an octal"):
        RunStore(tmp_path / "w.sqlite3", file_mode="-rw-------")
    with pytest.raises(ValueError, match=r"db= or store=, not both \(file_mode= goes with db="):
        install(bus, store=RunStore(), file_mode="0600")
    with pytest.raises(ValueError, match=r"file_mode is for a database the engine opens"):
        WorkflowEngine(RunStore(), file_mode="0600")
    assert list(tmp_path.iterdir()) == []


def test_a_bad_file_mode_variable_is_refused_naming_it(bus, tmp_path, monkeypatch):
    monkeypatch.setenv(FILE_MODE_ENV, "u=rw")
    with pytest.raises(ValueError, match=f"environment variable {FILE_MODE_ENV} must be"):
        install(bus, db=tmp_path / "w.sqlite3")
