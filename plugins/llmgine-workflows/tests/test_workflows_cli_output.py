"""``llmgine workflows``: aligned ``list``, ``show``'s step times, help, bad files, encodings."""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from llmgine.cli import build_parser, main
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import StartWorkflowCommand
from llmgine.messages.errors import MessageBusException
from llmgine_workflows import RunStore, RunStoreError, Workflow, install, register_workflow
from llmgine_workflows._output import width
from wf_helpers import Recorder, act_step

pytestmark = pytest.mark.usefixtures("fresh_plugins")

LONG = "order-2026-12-06-000001-with-a-much-longer-id-than-the-others"
NAMES = {"r1": "w", LONG: "a-much-longer-workflow-name", "r3": "\u65e5\u672c\u8a9e"}


@pytest.fixture
def db(tmp_path: Path, bus: MessageBus, recorder: Recorder) -> Path:
    """Runs of three workflows: short, long and wide-character names; 'r3' failed at 'ship'
    after 'reserve' (whose compensation failed) and 'charge' (compensated)."""
    path = tmp_path / "runs.sqlite3"
    for name in NAMES.values():
        steps = [act_step("reserve", 1), act_step("charge", 2), act_step("ship", 3)]
        register_workflow(Workflow(name, steps), bus=bus)
    install(bus, store=RunStore(path))
    for run_id, name in list(NAMES.items())[:2]:
        bus.dispatch(StartWorkflowCommand(name, {}, command_id=run_id))
    recorder.fail["ship"] = RuntimeError("no courier")
    recorder.fail_undo["reserve"] = RuntimeError("stock service down")
    bus.dispatch(StartWorkflowCommand(NAMES["r3"], {}, command_id="r3"))
    return path


def starts(line: str) -> list[int]:
    """The display column where each field of a ``list`` line starts (fields: 2+ spaces)."""
    columns, at, gap = [], 0, 2
    for ch in line:
        if ch != " " and gap >= 2:
            columns.append(at)
        gap = gap + 1 if ch == " " else 0
        at += width(ch)
    return columns


def test_list_aligns_every_column_whatever_the_lengths_and_widths(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["workflows", "list", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["RUN", "WORKFLOW", "STATUS", "STEPS", "UPDATED"]
    assert [line.split()[0] for line in lines[1:]] == list(NAMES)
    assert len({tuple(starts(line)) for line in lines}) == 1, "\n".join(lines)
    assert len(starts(lines[0])) == 5
    assert lines[3].split()[1:4] == [NAMES["r3"], "failed", "2/3"]


def test_a_run_id_with_a_newline_stays_on_its_row(
    tmp_path: Path, bus: MessageBus, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "runs.sqlite3"
    register_workflow(Workflow("w", [act_step("a", 1)]), bus=bus)
    install(bus, store=RunStore(path))
    bus.dispatch(StartWorkflowCommand("w", {}, command_id="two\nlines"))
    bus.dispatch(StartWorkflowCommand("w", {}, command_id="r2"))
    assert main(["workflows", "list", "--db", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[1].split()[:3] == ["two\\nlines", "w", "completed"]
    assert len({tuple(starts(line)) for line in lines}) == 1


def test_list_says_when_no_run_has_the_status(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["workflows", "list", "--db", str(db), "--status", "compensating"]) == 0
    assert capsys.readouterr().out == "no workflow runs with status compensating\n"


def test_show_labels_each_time_by_what_happened_then(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = RunStore(db, readonly=True).get("r3")
    reserve, charge = run.steps
    # millisecond timestamps: two steps may complete within the same one
    assert reserve.completed_at <= charge.completed_at
    # compensation runs backwards: charge is undone first, after both completed
    assert charge.completed_at <= str(charge.compensated_at) <= str(reserve.compensated_at)
    assert main(["workflows", "show", "r3", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert (
        "  failed at 'ship': RuntimeError: no courier\n"
        "  0. reserve: compensation failed: RuntimeError: stock service down\n"
        f"     completed at {reserve.completed_at}, "
        f"compensation failed at {reserve.compensated_at}\n"
        "     result: 1\n"
        "  1. charge: compensated\n"
        f"     completed at {charge.completed_at}, compensated at {charge.compensated_at}\n"
        "     result: 2\n"
        "  2. ship: failed: RuntimeError: no courier\n"
    ) in out
    assert main(["workflows", "show", "r1", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    first = RunStore(db, readonly=True).get("r1").steps[0]
    assert f"  0. reserve: completed at {first.completed_at}\n     result: 1\n" in out
    assert "compensat" not in out


def test_show_json_has_the_compensation_time(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["workflows", "show", "r3", "--db", str(db), "--json"]) == 0
    steps = json.loads(capsys.readouterr().out)["steps"]
    assert [bool(step["compensated_at"]) for step in steps] == [True, True]


def test_a_database_of_the_previous_version_is_read_and_then_upgraded(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(db) as conn:  # as the version before compensated_at wrote it
        conn.execute("ALTER TABLE steps DROP COLUMN compensated_at")
    assert main(["workflows", "show", "r3", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "     completed at " in out
    assert ", compensated (time not recorded)\n" in out
    assert ", compensation failed (time not recorded)\n" in out
    RunStore(db).close()  # opened for writing: the column is added
    with sqlite3.connect(db) as conn:
        names = [row[1] for row in conn.execute("PRAGMA table_info(steps)")]
    assert names[-1] == "compensated_at"
    RunStore(db).close()  # and not twice


@pytest.mark.parametrize("action", [["list"], ["show", "r1"]])
def test_a_path_that_is_no_database_file_is_one_line_naming_it_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: list[str]
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    cases = {
        tmp_path: f"{tmp_path} is a directory, not a workflow database file",
        tmp_path / "nope.sqlite3": f"no workflow database at {tmp_path / 'nope.sqlite3'} "
        "(no such file)",
        text / "runs.sqlite3": f"cannot use {text / 'runs.sqlite3'}: {text} is a file, "
        "not a directory",
        text: f"{text} is not a workflow database (file is not a database)",
    }
    for path, problem in cases.items():
        assert main(["workflows", *action, "--db", str(path)]) == 1
        err = capsys.readouterr().err
        assert err == f"llmgine workflows: {problem}; check --db or LLMGINE_WORKFLOWS_DB\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_database_is_one_line_exit_1(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.chmod(0)
    try:
        assert main(["workflows", "list", "--db", str(db)]) == 1
    finally:
        db.chmod(0o600)
    assert capsys.readouterr().err == (
        f"llmgine workflows: cannot open {db}: permission denied; "
        "check --db or LLMGINE_WORKFLOWS_DB\n"
    )


def test_a_bad_path_for_the_engine_is_a_run_store_error_naming_it(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    for path, problem in {
        tmp_path: "is a directory, not a workflow database file",
        text: "is not a workflow database (file is not a database)",
        text / "runs.sqlite3": f"{text} is a file, not a directory",
    }.items():
        with pytest.raises(RunStoreError) as info:
            RunStore(path)
        assert isinstance(info.value, MessageBusException)
        assert f"{path}" in str(info.value)
        assert problem in str(info.value)
        assert str(info.value).endswith(
            "; check LLMGINE_WORKFLOWS_DB, or the path given to install(bus, db=...) or RunStore()"
        )
    assert text.read_text() == "not a database\n"


def parsers() -> dict[str, argparse.ArgumentParser]:
    """``workflows`` and each of its actions' parsers, by name."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        found[name] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    walk(child, f"{name} {sub}".strip())

    walk(build_parser(), "")
    return {name: p for name, p in found.items() if name.startswith("workflows")}


def test_help_is_plain_text_with_a_description_and_a_default_for_each_option() -> None:
    found = parsers()
    assert set(found) == {"workflows", "workflows list", "workflows show", "workflows resume"}
    for name, parser in found.items():
        text = parser.format_help()
        for markup in ("``", ":func:", ":class:"):
            assert markup not in text, name
        assert parser.description, name
        for action in parser._actions:
            assert action.help, f"{name} {action.dest}"
    flat = {name: " ".join(p.format_help().split()) for name, p in found.items()}
    assert (
        "--db PATH SQLite file of the runs (default: $LLMGINE_WORKFLOWS_DB)"
        in flat["workflows list"]
    )
    assert "only the runs with this status (default: every run)" in flat["workflows list"]
    assert "(default: every unfinished run whose process is gone)" in flat["workflows resume"]


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_terminal_that_cannot_encode_a_name_gets_escapes_aligned_not_a_traceback(
    db: Path, encoding: str
) -> None:
    env = {**os.environ, "PYTHONIOENCODING": encoding, "LLMGINE_WORKFLOWS_DB": str(db)}
    for action in (["list"], ["show", "r3"]):
        done = subprocess.run(
            [sys.executable, "-m", "llmgine.cli", "workflows", *action],
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        out = done.stdout.decode(encoding)
        assert "\\u65e5\\u672c\\u8a9e" in out
    lines = subprocess.run(
        [sys.executable, "-m", "llmgine.cli", "workflows", "list"],
        env=env,
        capture_output=True,
        timeout=60,
    ).stdout.decode(encoding)
    assert len({tuple(starts(line)) for line in lines.splitlines()}) == 1, lines
