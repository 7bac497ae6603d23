"""examples/workflow_example.py runs with one command and shows both outcomes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "workflow_example.py"


@pytest.mark.slow
def test_the_workflow_example_completes_one_run_and_compensates_the_other() -> None:
    env = {**os.environ, "LLMGINE_LOAD_PLUGINS": "workflows"}
    env.pop("LLMGINE_WORKFLOWS_DB", None)
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    paris, atlantis = done.stdout.split("\n\n")[:2]
    events = [line.split()[0] for line in paris.splitlines()[1:-1]]
    assert events == ["workflow.started", *["workflow.step_completed"] * 4, "workflow.completed"]
    assert "Expect sunny skies and 21 °C.; token budget left: 700" in paris
    assert "workflow.failed          tool     the weather tool knows no city" in atlantis
    # the failed run's reservation was released by the compensation
    assert "failed; token budget left: 700" in atlantis
