"""``llmgine trace -h`` tells the truth about the exit warning: any program that imports
llmgine and installs no tracer gets it (``import llmgine`` arms it, not llmgine.plugins)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from llmgine.cli import build_parser


def _trace_help() -> str:
    parser = build_parser()
    (trace,) = (
        action.choices["trace"]
        for action in parser._actions  # (argparse has no public accessor for subparsers)
        if isinstance(getattr(action, "choices", None), dict) and "trace" in action.choices
    )
    return " ".join(trace.format_help().split())


def test_the_help_says_a_program_importing_llmgine_gets_the_warning() -> None:
    text = _trace_help()
    assert (
        "a program that imports llmgine but calls neither prints no tree, only a warning "
        "saying so when it exits" in text
    )
    assert "llmgine.plugins, a warning" not in text


def test_import_llmgine_alone_is_enough_for_the_warning(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGINE_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmgine.cli",
            "trace",
            "--",
            sys.executable,
            "-c",
            "import llmgine",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0
    assert done.stderr.startswith("llmgine: LLMGINE_TRACE is set but nothing was traced")
