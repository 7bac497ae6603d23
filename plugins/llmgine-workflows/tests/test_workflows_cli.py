"""``llmgine workflows list/show/resume`` in-process: output and errors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from llmgine.cli import main
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import StartWorkflowCommand
from llmgine_workflows import RunStore, Workflow, install, register_workflow
from wf_helpers import Recorder, act_step

pytestmark = pytest.mark.usefixtures("fresh_plugins")


@pytest.fixture
def db(tmp_path: Path, bus: MessageBus, recorder: Recorder) -> Path:
    """A database with one completed run ('ok') and one failed run ('bad')."""
    path = tmp_path / "runs.sqlite3"
    register_workflow(Workflow("w", [act_step("a", {"x": 1}), act_step("b", 2)]), bus=bus)
    install(bus, store=RunStore(path))
    bus.dispatch(StartWorkflowCommand("w", {"q": "?"}, command_id="ok"))
    recorder.fail["b"] = KeyError("gone")
    bus.dispatch(StartWorkflowCommand("w", {}, command_id="bad"))
    return path


def test_list_shows_every_run(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["workflows", "list", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["RUN", "WORKFLOW", "STATUS"],
        ["ok", "w", "completed"],
        ["bad", "w", "failed"],
    ]
    assert main(["workflows", "list", "--db", str(db), "--status", "failed", "--json"]) == 0
    assert [run["run_id"] for run in json.loads(capsys.readouterr().out)] == ["bad"]


def test_show_shows_steps_results_and_failure(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMGINE_WORKFLOWS_DB", str(db))
    assert main(["workflows", "show", "bad"]) == 0
    out = capsys.readouterr().out
    assert "run bad: workflow 'w', failed" in out
    assert "failed at 'b': KeyError: 'gone'" in out
    assert "0. a: compensated\n     completed at " in out
    assert '{"x": 1}' in out
    assert "1. b: failed: KeyError: 'gone'" in out


def test_show_an_unknown_run(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["workflows", "show", "nope", "--db", str(db)]) == 1
    assert "no workflow run 'nope'" in capsys.readouterr().err


def test_without_a_database_the_commands_say_how_to_configure_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for args in (["list"], ["show", "x"], ["resume"]):
        assert main(["workflows", *args]) == 2
        assert "LLMGINE_WORKFLOWS_DB" in capsys.readouterr().err


def test_a_missing_database_file_is_reported_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo" / "nope.sqlite3"
    for command in ("list", "resume"):  # resume created it (and its directory), empty
        assert main(["workflows", command, "--db", str(missing)]) == 1
        assert f"no workflow database at {missing} (no such file)" in capsys.readouterr().err
        assert not missing.parent.exists()


@pytest.mark.parametrize("content", [b"not a database\n" * 100, b""], ids=["text", "empty"])
def test_a_file_that_is_no_workflow_database_is_one_line_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    for args in (["list"], ["show", "x"], ["resume"]):
        assert main(["workflows", *args, "--db", str(path)]) == 1
        err = capsys.readouterr().err
        assert err.splitlines() == [
            f"llmgine workflows: {path} is not a workflow database ("
            + ("file is not a database" if content else "no such table: runs")
            + "); check --db or LLMGINE_WORKFLOWS_DB"
        ]
    assert path.read_bytes() == content  # nothing was written to it


def test_another_sqlite_database_is_no_workflow_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    assert main(["workflows", "list", "--db", str(path)]) == 1
    assert "is not a workflow database (no such table: runs)" in capsys.readouterr().err


def test_a_corrupt_database_is_one_line_exit_1(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray(db.read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)  # the pages after the first: garbage
    db.write_bytes(bytes(data))
    assert main(["workflows", "list", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"llmgine workflows: cannot read the workflow database {db}: ")
    assert len(err.splitlines()) == 1
