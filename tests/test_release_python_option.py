"""What ``dev.py`` says about the Pythons it is asked for: ``--python`` below 3.11 is refused
at once, a missing chosen version gets the hint that applies to it, and the usage's
``LLMGINE_PYTHONS`` example names every version a run needs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.pythons import ALLOW_MISSING_ENV, PYTHONS_ENV, SUPPORTED, missing_hint, requested_minor

ROOT = Path(__file__).resolve().parents[1]


def dev(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LLMGINE_")}
    return subprocess.run(
        [sys.executable, str(ROOT / "dev.py"), *args],
        env={PYTHONS_ENV: "/nonexistent/python", **environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("old", ["3.10", "3.1", "3.9", "3.0"])
def test_python_option_below_the_oldest_supported_is_refused(old: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^--python {old}: llmgine needs CPython 3\.11 or newer$"
    ):
        requested_minor(old)


@pytest.mark.parametrize("new", ["3.11", "3.13", "3.14", "3.20"])
def test_python_option_takes_the_supported_versions_and_newer_ones(new: str) -> None:
    assert requested_minor(new) == new


@pytest.mark.parametrize("task", ["test", "bench"])
def test_dev_py_refuses_an_old_python_at_once_in_one_line(task: str) -> None:
    done = dev(task, "--python", "3.10")
    assert done.returncode == 2
    assert done.stderr == f"dev.py {task}: --python 3.10: llmgine needs CPython 3.11 or newer\n"
    assert done.stdout == ""  # nothing was looked for, made or installed


def test_a_missing_chosen_python_is_not_told_to_set_the_allow_variable() -> None:
    done = dev("test", "--python", "3.98")
    assert done.returncode == 1
    hint = f"dev.py: {missing_hint(chosen=True)}\n"
    assert hint in done.stdout
    assert ALLOW_MISSING_ENV not in done.stdout
    assert f"install it or name it in {PYTHONS_ENV}" in hint


def test_missing_versions_of_a_full_run_get_every_fix() -> None:
    done = dev("test")
    assert done.returncode == 1
    hint = missing_hint(chosen=False)
    assert f"dev.py: {hint}\n" in done.stdout
    assert f"name it in {PYTHONS_ENV}" in hint
    assert f"set {ALLOW_MISSING_ENV}=1" in hint


def test_the_usages_pythons_example_names_every_supported_version() -> None:
    usage = dev().stdout
    examples = re.findall(rf"{PYTHONS_ENV}=(\S+?)``", usage)
    assert examples, usage
    for example in examples:
        named = [re.search(r"python(3\.\d+)$", part) for part in example.split(os.pathsep)]
        assert [match.group(1) for match in named if match] == list(SUPPORTED), example
