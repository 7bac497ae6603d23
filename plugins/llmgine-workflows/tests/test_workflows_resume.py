"""Runs survive their process: killed after step one, resumed elsewhere, no step run twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from llmgine_workflows import RunStore

CHILD = Path(__file__).with_name("wf_child.py")
RUN_ID = "run-killed-after-one"


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LLMGINE_DISABLE_PLUGINS", None)
    env.update(
        LLMGINE_LOAD_PLUGINS="workflows",
        LLMGINE_WORKFLOWS_DB=str(tmp_path / "runs.sqlite3"),
        WF_LOG=str(tmp_path / "executions.log"),
        WF_READY=str(tmp_path / "ready"),
        WF_RUN_ID=RUN_ID,
        **extra,
    )
    return env


def run_child(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHILD), *args],
        env=child_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


def start_and_kill_at_step_two(tmp_path: Path) -> None:
    """Start the workflow in a child, SIGKILL it while step two's handler runs."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), "start"],
        env=child_env(tmp_path, WF_HANG="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = tmp_path / "ready"
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if child.poll() is not None:
                pytest.fail(f"the child exited early ({child.returncode}): {child.communicate()}")
            if time.monotonic() > deadline:
                pytest.fail("the child never reached step two")
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
        child.stderr.close()  # type: ignore[union-attr]
    assert child.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_a_run_killed_after_step_one_resumes_without_running_it_again(tmp_path: Path) -> None:
    start_and_kill_at_step_two(tmp_path)
    log = tmp_path / "executions.log"
    assert log.read_text().split() == ["one", "two"]
    store = RunStore(tmp_path / "runs.sqlite3", readonly=True)
    killed = store.get(RUN_ID)
    assert killed.status == "running"
    assert [(s.name, s.result) for s in killed.steps] == [("one", "go>one")]

    listed = run_child(tmp_path, "cli", "workflows", "list")
    assert listed.returncode == 0, listed.stderr
    assert [RUN_ID, "three", "running", "1/3"] in [
        line.split()[:4] for line in listed.stdout.splitlines()
    ]

    shown = run_child(tmp_path, "cli", "workflows", "show", RUN_ID)
    assert shown.returncode == 0, shown.stderr
    assert "0. one: completed" in shown.stdout
    assert "1. two: not run" in shown.stdout

    resumed = run_child(tmp_path, "cli", "workflows", "resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{RUN_ID}: three completed (steps 3/3)" in resumed.stdout

    # step one ran exactly once; two ran again, since it never completed
    assert log.read_text().split() == ["one", "two", "two", "three"]
    run = store.get(RUN_ID)
    assert run.status == "completed"
    assert run.results == {"one": "go>one", "two": "go>one>two", "three": "go>one>two>three"}

    again = run_child(tmp_path, "cli", "workflows", "resume")
    assert again.returncode == 0, again.stderr
    assert "no interrupted workflow runs" in again.stdout
    shown = run_child(tmp_path, "cli", "workflows", "show", RUN_ID, "--json")
    assert json.loads(shown.stdout)["status"] == "completed"
    store.close()
