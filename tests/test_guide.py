"""Runs the walk-throughs of the docs, step by step: the quickstart and the plugin guide.

The commands, files and expected output all come from the pages themselves, so they
cannot drift from what works. The quickstart installs the core alone into a fresh
virtual environment and runs a small application; the plugin author's guide gets the
core and a freshly generated plugin in one pip command, runs the plugin's own tests,
and lists it with ``llmgine plugins``.

On those pages, ``$ `` lines of ``console`` blocks are run in order (a ``cd`` changes
the directory of the following ones), the lines under a command are output that must
appear, in that order (``...`` stands for anything), and a ``python title="NAME"``
block is written to ``NAME`` first.
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "docs" / "quickstart.md"
GUIDE = ROOT / "docs" / "plugin-guide" / "index.md"


@attrs.frozen
class Command:
    line: str
    expected: tuple[str, ...]


@attrs.frozen
class File:
    name: str
    text: str


def guide_steps(text: str) -> list[Command | File]:
    """A page's ``$ `` commands (with their expected output) and ``title=`` file blocks."""
    steps: list[Command | File] = []
    for info, body in re.findall(r"^```([^\n]*)\n(.*?)^```", text, re.M | re.S):
        info = info.strip()
        if title := re.fullmatch(r'python title="([^"]+)"', info):
            steps.append(File(title[1], body))
        elif info == "console":
            for chunk in re.split(r"^(?=\$ )", body, flags=re.M):
                lines = chunk.splitlines()
                if lines and lines[0].startswith("$ "):
                    steps.append(Command(lines[0][2:], tuple(line for line in lines[1:] if line)))
    return steps


def _pattern(expected: str) -> str:
    escaped = "".join(f"[{c}]" if c in "[]*?" else c for c in expected)
    return escaped.replace("...", "*")


def assert_output(expected: tuple[str, ...], output: str, command: str) -> None:
    """Each expected line matches an output line, in order (``...`` matches anything)."""
    lines = iter(output.splitlines())
    for want in expected:
        if want == "...":
            continue
        pattern = _pattern(want)
        if not any(fnmatch.fnmatchcase(line.rstrip(), pattern) for line in lines):
            raise AssertionError(f"{command!r}: no line like {want!r} (in order) in:\n{output}")


def test_quickstart_parses_into_the_expected_steps() -> None:
    steps = guide_steps(QUICKSTART.read_text())
    commands = [s.line for s in steps if isinstance(s, Command)]
    assert commands[:2] == ["python3 -m venv .venv", '.venv/bin/python -m pip install "$LLMGINE"']
    assert ".venv/bin/python app.py" in commands
    assert [s.name for s in steps if isinstance(s, File)] == ["app.py"]


def test_guide_parses_into_the_expected_steps() -> None:
    steps = guide_steps(GUIDE.read_text())
    commands = [s.line for s in steps if isinstance(s, Command)]
    assert commands[0] == "llmgine new-plugin greeter"
    assert any(
        c.startswith(".venv/bin/python -m pip install") and '"$LLMGINE"' in c for c in commands
    )
    assert ".venv/bin/llmgine plugins" in commands
    assert [s.name for s in steps if isinstance(s, File)] == ["app.py"]


def test_output_matching_honours_order_and_ellipsis() -> None:
    assert_output(("a [x]", "2 passed..."), "a [x]\nnoise\n2 passed in 0.1s\n", "cmd")
    with pytest.raises(AssertionError, match="no line like 'a'"):
        assert_output(("b", "a"), "a\nb\n", "cmd")


def run_walkthrough(page: Path, cwd: Path) -> None:
    """Run ``page``'s steps in ``cwd``, with ``LLMGINE`` the checkout and nothing of ours set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMGINE", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    # `llmgine` and `python` are the ones of the environment running the tests.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["LLMGINE"] = str(ROOT)
    # What `pip install -q --disable-pip-version-check` would do; the guide shows the plain command.
    env.update(PIP_QUIET="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    for step in guide_steps(page.read_text()):
        if isinstance(step, File):
            (cwd / step.name).write_text(step.text)
            continue
        if step.line.startswith("cd "):
            cwd = cwd / step.line[3:].strip()
            continue
        result = subprocess.run(
            step.line, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{step.line!r} exited {result.returncode}:\n{output}"
        assert_output(step.expected, output, step.line)


@pytest.mark.slow
def test_quickstart(tmp_path: Path) -> None:
    run_walkthrough(QUICKSTART, tmp_path)


@pytest.mark.slow
def test_plugin_authors_guide(tmp_path: Path) -> None:
    run_walkthrough(GUIDE, tmp_path)
