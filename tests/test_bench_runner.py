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
    "tasks10",
    "gather10",
]
PEERS = [
    "pyee_1",
    "pyee_10",
    "blinker_1",
    "blinker_10",
    "pluggy_1",
    "pluggy_10",
    "lato",
    "pydantic_tick",
    "pydantic_resource",
    "tasks10_eager",  # (CPython >= 3.12 only)
]
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
# issue 18's workloads; the peers' rows may be missing when not installed
TURNS_OURS = ["ours_async", "ours_sync", "ours_background", "ours_thread"]
TURNS_PEERS = ["bubus", "pyee_async_msg", "pyee_sync_msg", "blinker_bare", "blinker_msg"]


@pytest.mark.slow
def test_quick_run_reports_every_case_with_ratios_and_targets(tmp_path: Path) -> None:
    out = tmp_path / "results" / "bench.json"  # (a directory that does not exist yet)
    table = tmp_path / "results" / "bench.md"
    done = subprocess.run(
        # --no-envs: no virtual environment is built for upstream LLMgine (pip, network)
        [
            sys.executable,
            str(RUNNER),
            "--quick",
            "--no-envs",
            "--sections",
            "turns,latency,memory",
            "--json",
            str(out),
            "--markdown",
            str(table),
        ],
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

    assert rows["emit_async_10"]["floor"] == "tasks10"
    assert "upstream_nowait (--no-envs)" in skipped

    workloads = payload["workloads"]
    throughput = workloads["turns"]["throughput"]
    for name in TURNS_OURS:
        assert throughput[name]["turns_per_s"] > 0, name
        assert throughput[name]["deliveries_per_s"] > throughput[name]["turns_per_s"]
        assert f"`{name}`" in markdown
    for name in TURNS_PEERS:
        assert name in throughput or name in workloads["turns"]["errors"], name
    latency = workloads["turns"]["latency"]["ours_async"]
    for level in ("1", "100"):
        assert 0 < latency[level]["p50_us"] <= latency[level]["p99_us"] <= latency[level]["p999_us"]
    verdicts = {t["target"]: t["met"] for t in workloads["turns"]["targets"]}
    assert verdicts[">= 5x faster than upstream_best"] is None  # (not measured: --no-envs)
    memory = workloads["memory"]
    for row in ("bytes_per_subscription", "bytes_per_session", "bytes_per_background_event"):
        assert memory[row] > 0, row
    assert memory["rss"]["rss_end"] > 0
    assert "RSS over" in done.stdout
    assert "growth" in done.stdout

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
