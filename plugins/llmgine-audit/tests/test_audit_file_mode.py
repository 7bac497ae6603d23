"""The audit log is created private (0600) unless ``file_mode`` says otherwise."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import llmgine_audit
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.events import SystemEvent
from llmgine_audit import FILE_MODE_ENV


@pytest.fixture(autouse=True)
def umask_022(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The usual umask, which leaves files world-readable; no file mode from the environment."""
    monkeypatch.delenv(FILE_MODE_ENV, raising=False)
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_one(plain_bus: MessageBus, path: Path, **settings: object) -> None:
    llmgine_audit.install(plain_bus, log=path, **settings)
    plain_bus.emit(SystemEvent(component="app", severity="info", message="x"))
    assert path.read_text().count("\n") == 1


def test_the_log_is_created_readable_by_its_owner_only(plain_bus, log_path):
    write_one(plain_bus, log_path)
    assert mode_of(log_path) == 0o600


@pytest.mark.parametrize("given", ["0640", "640", "0o640", 0o640])
def test_the_file_mode_setting_is_honoured(plain_bus, log_path, given):
    write_one(plain_bus, log_path, file_mode=given)
    assert mode_of(log_path) == 0o640


def test_the_file_mode_environment_variable_is_honoured_exactly(plain_bus, log_path, monkeypatch):
    monkeypatch.setenv(FILE_MODE_ENV, "0660")  # group write, which the umask would drop
    write_one(plain_bus, log_path)
    assert mode_of(log_path) == 0o660


def test_an_existing_file_keeps_its_mode(plain_bus, log_path):
    log_path.touch(mode=0o644)
    write_one(plain_bus, log_path)
    assert mode_of(log_path) == 0o644


@pytest.mark.parametrize(
    ("given", "error", "message"),
    [
        ("0999", ValueError, r"must be an octal file mode such as 0600 or 0640, not '0999'"),
        ("rw-r-----", ValueError, r"must be an octal file mode such as 0600"),
        ("04600", ValueError, r"'04600' is not a file mode: only the permission bits 0000 to"),
        ("0400", ValueError, r"'0400' \(0400\) does not let the owner read and write the file"),
        (True, TypeError, r"must be an octal file mode .*not True \(bool\)"),
    ],
)
def test_a_bad_file_mode_is_refused_naming_the_setting(plain_bus, log_path, given, error, message):
    with pytest.raises(error, match=r"llmgine_audit\.install\(\): setting file_mode " + message):
        llmgine_audit.install(plain_bus, log=log_path, file_mode=given)
    assert not log_path.exists()


def test_a_bad_file_mode_variable_is_refused_naming_it(plain_bus, log_path, monkeypatch):
    with monkeypatch.context() as env:  # (undone before the fixtures' own cleanup)
        env.setenv(FILE_MODE_ENV, "private")
        with pytest.raises(ValueError, match=f"environment variable {FILE_MODE_ENV} must be"):
            llmgine_audit.install(plain_bus, log=log_path)
