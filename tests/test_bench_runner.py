"""The benchmark runner (bench/run.py) runs end to end in quick mode and reports every case.

No timing assertions: this proves the runner works, the benchmarks measure speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "bench" / "run.py"

# The rows issue 4 asks for; a peer may be skipped when its library is not installed.
FLOORS = [
    "call",
    "dict",
    "loop10",
    "slots3",
    "await",
    "await10",
    "drive10",
    "drive10_ctx",
    "gather10",
]
PEERS = ["pyee_1", "pyee_10", "blinker_1", "blinker_10", "pluggy_1", "pluggy_10", "lato"]
LLMGINE = [
    "dispatch",
    "dispatch_queue",
    *(f"emit_{how}_{n}" for how in ("exact", "class", "pattern") for n in (1, 10, 100)),
    "new_event",
    "new_command",
    "dispatch_async",
    "dispatch_async_sync",
    "emit_async_10",
    "emit_async_sync_10",
]
STARTUP = ["startup_deps", "startup_import", "startup_own", "register_0", "register_50"]


@pytest.mark.slow
def test_quick_run_reports_every_case_with_ratios_and_targets(tmp_path: Path) -> None:
    out = tmp_path / "results" / "bench.json"  # (a directory that does not exist yet)
    table = tmp_path / "results" / "bench.md"
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--quick", "--json", str(out), "--markdown", str(table)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "targets met:" in done.stdout

    payload = json.loads(out.read_text())
    rows = {row["name"]: row for row in payload["results"]}
    skipped = " ".join(payload["skipped"])
    for name in FLOORS + LLMGINE + STARTUP:
        assert name in rows, f"{name} missing from the results"
        assert name in done.stdout
    for name in FLOORS + LLMGINE:
        assert rows[name]["ns"] > 0
    for name in PEERS:
        assert name in rows or name in skipped, f"{name} neither measured nor skipped"

    markdown = table.read_text()
    for name in FLOORS + LLMGINE + STARTUP:
        assert f"| {name} |" in markdown

    dispatch = rows["dispatch"]
    assert dispatch["floor"] == "call"
    assert dispatch["floor_ratio"] > 0
    assert dispatch["targets"], "dispatch carries the issue's targets"
    for row in rows.values():
        for target in row["targets"]:
            assert target["met"] in (True, False, None)
            assert target["target"]


def test_unknown_option_is_rejected_with_usage() -> None:
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--no-such-option"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "usage:" in done.stderr


def test_only_selects_cases_by_any_of_several_texts_and_rejects_one_matching_nothing() -> None:
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--quick", "--no-startup", "--only", "dispatch_async,slots"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    measured = {line.split()[0] for line in done.stdout.splitlines()[3:] if line[:1].isalpha()}
    # the selected rows, and what they are compared with
    assert {"dispatch_async", "dispatch_async_sync", "slots3", "await", "call"} <= measured
    assert "emit_exact_10" not in measured

    done = subprocess.run(
        [sys.executable, str(RUNNER), "--no-startup", "--only", "nosuchcase"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "--only nosuchcase: no case name contains that" in done.stderr
    assert "dispatch" in done.stderr  # the cases there are
