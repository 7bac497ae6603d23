"""A resource database path a process cannot use (what ``llmgine worker``, or any program
using the plugin, reports): a :class:`ResourceStoreError` naming the file, the problem and
the fix, never a bare ``sqlite3`` error."""

from __future__ import annotations

import pickle
from pathlib import Path

import llmgine_resources
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import CreateResourceCommand
from llmgine.messages.errors import MessageBusException
from llmgine_resources import ResourceStoreError, SqliteResourceStore

ORIGIN = "; the path comes from LLMGINE_RESOURCES_DB or SqliteResourceStore(path)"


def bad_paths(tmp_path: Path) -> dict[Path, str]:
    """Paths that cannot be the database, and the problem and fix their error must state."""
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    return {
        tmp_path: "it is a directory; give the path of a file (one in it, say)",
        text: "it is not an SQLite database (file is not a database); use another path, "
        "or move the file away",
        tmp_path / "no-such-dir" / "r.db": f"its directory {str(tmp_path / 'no-such-dir')!r} "
        "does not exist; create it, or fix the path",
        text / "sub" / "r.db": f"{str(text)!r} is a file, not a directory; fix the path",
    }


def test_each_bad_path_is_a_resource_store_error_naming_file_problem_and_fix(
    tmp_path: Path,
) -> None:
    for path, problem in bad_paths(tmp_path).items():
        with pytest.raises(ResourceStoreError) as info:
            SqliteResourceStore(path)
        assert str(info.value) == (
            f"cannot open the resource database {str(path)!r}: {problem}{ORIGIN}"
        )
        assert isinstance(info.value, MessageBusException)
        assert isinstance(info.value, OSError)  # as before the class existed
    text = tmp_path / "notes.txt"
    assert text.read_text() == "not a database\n"  # nothing was written to it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_command_on_a_bus_whose_database_path_is_bad_raises_it(tmp_path: Path) -> None:
    bus = MessageBus.isolated(strict=True)
    llmgine_resources.install(bus, db=tmp_path)  # opened at the first command
    with pytest.raises(ResourceStoreError, match="it is a directory"):
        bus.dispatch(CreateResourceCommand(resource_type="t", resource_data={}))
    bus.close()


def test_the_error_survives_pickling(tmp_path: Path) -> None:
    with pytest.raises(ResourceStoreError) as info:
        SqliteResourceStore(tmp_path)
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is ResourceStoreError
    assert str(copy) == str(info.value)
