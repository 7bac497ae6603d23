"""Ctrl-C in ``dev.py``: exit status 130 and one line, no traceback, at any moment; a setup
step's programs are stopped with it, and the environment it cut short is made again.

A terminal sends Ctrl-C's SIGINT to its foreground process group: each test starts the
program in a group of its own and signals the group, as the terminal would.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tools.devenv import DevEnv
from tools.pythons import PYTHONS_ENV, Interpreter

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # starts processes, builds a virtual environment


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (a generous deadline: only a hang fails, never slowness)."""
    deadline = time.monotonic() + 120
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def start(argv: list[str], **env: str) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LLMGINE_")}
    return subprocess.Popen(
        argv,
        env={**environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,  # where tools/ is importable
        process_group=0,
    )


def ctrl_c(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Ctrl-C to the program's process group; its output once it ended."""
    os.killpg(process.pid, signal.SIGINT)
    return process.communicate(timeout=120)


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie waiting to be reaped has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_ctrl_c_while_looking_for_pythons_ends_with_130_and_one_line(tmp_path: Path) -> None:
    started = tmp_path / "probed"
    slow = tmp_path / "python3.98"
    slow.write_text(f"#!/bin/sh\ntouch {started}\nexec sleep 120\n")
    slow.chmod(0o755)
    process = start([sys.executable, str(ROOT / "dev.py"), "test"], **{PYTHONS_ENV: str(slow)})
    wait_for(started.exists, "dev.py to probe the interpreter")
    out, err = ctrl_c(process)
    assert process.returncode == 130
    assert err == "dev.py test: interrupted\n"
    assert "Traceback" not in out


def copy_of_dev_py(root: Path) -> Path:
    """dev.py and what it reads before installing, so its .venv is made under ``root``."""
    shutil.copy(ROOT / "dev.py", root / "dev.py")
    shutil.copytree(ROOT / "tools", root / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    for pyproject in [ROOT / "pyproject.toml", *ROOT.glob("plugins/*/pyproject.toml")]:
        target = root / pyproject.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(pyproject, target)
    (root / "core" / "llmgine").mkdir(parents=True)
    shutil.copy(ROOT / "core" / "llmgine" / "_version.py", root / "core" / "llmgine")
    return root


def test_ctrl_c_while_the_first_venv_is_created_leaves_one_the_next_run_makes_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_of_dev_py(tmp_path)
    env = DevEnv(Interpreter(sys.executable, platform.python_version()), root=root)
    process = start([sys.executable, str(root / "dev.py"), "example"])
    wait_for(env.python.exists, "venv to make .venv/bin/python")  # pip comes seconds later
    out, err = ctrl_c(process)
    assert process.returncode == 130
    assert err == "dev.py example: interrupted\n"
    assert out.startswith("dev.py: creating .venv with CPython")
    assert not env.created_marker.exists()
    # The next run (dev.py example calls the same) makes it again, with pip this time.
    env.create()
    assert "dev.py: recreating .venv with CPython" in capsys.readouterr().out
    assert env.pip_runs()


HELPER = """
import sys
from tools.devenv import call
argv, setup = sys.argv[2:], sys.argv[1] == "setup"
try:
    call(argv, setup=setup)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_a_setup_step_is_stopped_with_all_its_processes(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    tree = f"sleep 120 & echo $! > {pid_file}.tmp && mv {pid_file}.tmp {pid_file}; wait"
    process = start([sys.executable, "-c", HELPER, "setup", "sh", "-c", tree])
    wait_for(pid_file.exists, "the setup step to start its child")
    out, err = ctrl_c(process)
    assert (out, err) == ("interrupted\n", "")
    grandchild = int(pid_file.read_text())
    wait_for(lambda: gone(grandchild), "the setup step's child to be stopped")


def test_a_tasks_program_gets_ctrl_c_itself_and_finishes_its_report(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    program = (
        "import pathlib, time\n"
        f"try:\n    pathlib.Path({str(ready)!r}).touch()\n    time.sleep(120)\n"
        "except KeyboardInterrupt:\n    print('report of the interrupted run', flush=True)\n"
    )
    process = start([sys.executable, "-c", HELPER, "task", sys.executable, "-c", program])
    wait_for(ready.exists, "the task's program to start")
    out, err = ctrl_c(process)
    assert (out, err) == ("report of the interrupted run\ninterrupted\n", "")
