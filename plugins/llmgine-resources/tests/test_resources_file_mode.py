"""The SQLite database is created private (0600) unless ``file_mode`` says otherwise."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import llmgine_resources
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import CreateResourceCommand
from llmgine_resources import DB_ENV, FILE_MODE_ENV, InMemoryResourceStore, SqliteResourceStore


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


def create_one(db: Path, **settings: object) -> None:
    """Install the plugin on a bus with ``db`` and store one resource there."""
    bus = MessageBus.isolated()
    llmgine_resources.install(bus, db=db, **settings)
    bus.dispatch(CreateResourceCommand(resource_type="t", resource_data={"a": 1}))
    bus.close()


def test_the_database_and_its_wal_are_created_readable_by_their_owner_only(tmp_path):
    db = tmp_path / "resources.db"
    store = SqliteResourceStore(db)
    store.create("t", {"a": 1})
    modes = {p.name: mode_of(p) for p in tmp_path.iterdir()}
    assert modes == {"resources.db": 0o600, "resources.db-wal": 0o600, "resources.db-shm": 0o600}
    store.close()


def test_the_plugin_creates_its_database_private(tmp_path):
    create_one(tmp_path / "resources.db")
    assert mode_of(tmp_path / "resources.db") == 0o600


def test_the_file_mode_setting_is_honoured(tmp_path):
    create_one(tmp_path / "resources.db", file_mode="0640")
    assert mode_of(tmp_path / "resources.db") == 0o640


def test_the_file_mode_environment_variable_is_honoured_exactly(tmp_path, monkeypatch):
    db = tmp_path / "resources.db"
    monkeypatch.setenv(DB_ENV, str(db))
    monkeypatch.setenv(FILE_MODE_ENV, "0660")  # group write, which the umask would drop
    bus = MessageBus.isolated()
    llmgine_resources.install(bus)
    bus.dispatch(CreateResourceCommand(resource_type="t", resource_data={"a": 1}))
    bus.close()
    assert mode_of(db) == 0o660


def test_an_existing_database_keeps_its_mode(tmp_path):
    db = tmp_path / "resources.db"
    SqliteResourceStore(db).close()
    db.chmod(0o644)
    create_one(db)
    assert mode_of(db) == 0o644


def test_an_in_memory_store_creates_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    SqliteResourceStore(":memory:").close()
    assert list(tmp_path.iterdir()) == []
    assert isinstance(llmgine_resources.get_store(MessageBus.isolated()), InMemoryResourceStore)


@pytest.mark.parametrize(
    ("given", "error", "message"),
    [
        ("0999", ValueError, r"must be an octal file mode such as 0600 or 0640, not '0999'"),
        ("0200", ValueError, r"'0200' \(0200\) does not let the owner read and write the file"),
        (1.5, TypeError, r"must be an octal file mode .*not 1\.5 \(float\)"),
    ],
)
def test_a_bad_file_mode_is_refused_naming_the_setting(tmp_path, given, error, message):
    match = r"llmgine_resources\.install\(\): setting file_mode " + message
    with pytest.raises(error, match=match):
        llmgine_resources.install(MessageBus.isolated(), db=tmp_path / "r.db", file_mode=given)
    with pytest.raises(ValueError, match=r"SqliteResourceStore\(file_mode=\.\.\.\) must be"):
        SqliteResourceStore(tmp_path / "r.db", file_mode="rw")
    with pytest.raises(ValueError, match="file_mode is for the SQLite file the plugin creates"):
        llmgine_resources.install(
            MessageBus.isolated(), store=InMemoryResourceStore(), file_mode="0600"
        )
    assert list(tmp_path.iterdir()) == []


def test_a_bad_file_mode_variable_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv(FILE_MODE_ENV, "private")
    with pytest.raises(ValueError, match=f"environment variable {FILE_MODE_ENV} must be"):
        llmgine_resources.install(MessageBus.isolated(), db=tmp_path / "r.db")
