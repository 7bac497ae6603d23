"""``LLMGINE_TRACE=1`` in a process that never installs the tracer: one warning at exit,
saying how to fix it. Each case is a process of its own (the check runs at exit)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

MESSAGE = (
    "llmgine: LLMGINE_TRACE is set but nothing was traced: no bus in this process got a "
    "tracer. Call llmgine.plugins.register_handlers(bus) after making the bus (it installs "
    "the tracer when LLMGINE_TRACE is set), or llmgine.tracing.install_tracing(bus)."
)

BUS = """\
    from dataclasses import dataclass
    from llmgine.messages import Command, MessageBus

    @dataclass
    class Ping(Command[str]):
        pass

    bus = MessageBus.isolated()
    bus.register_command(Ping, lambda command: "pong")
"""


def run(
    tmp_path: Path, code: str, trace: str | None = "1", *args: str
) -> subprocess.CompletedProcess[str]:
    program = tmp_path / "app.py"
    program.write_text(
        textwrap.dedent(BUS) + textwrap.dedent(code) + "print(bus.dispatch(Ping()))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGINE_")}
    env["LLMGINE_LOAD_PLUGINS"] = ""
    if trace is not None:
        env["LLMGINE_TRACE"] = trace
    command = [*args, sys.executable, str(program)]
    return subprocess.run(command, capture_output=True, text=True, env=env)


def test_a_program_that_never_installs_the_tracer_is_told_once_how_to(tmp_path: Path) -> None:
    # (a program of the bus alone, then one that also imports the plugins: still one warning)
    done = run(tmp_path, "")
    assert (done.returncode, done.stdout, done.stderr) == (0, "pong\n", MESSAGE + "\n")
    done = run(tmp_path, "import llmgine.plugins\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, "pong\n", MESSAGE + "\n")


def test_through_llmgine_trace_too(tmp_path: Path) -> None:
    done = run(tmp_path, "", None, sys.executable, "-m", "llmgine.cli", "trace", "--")
    assert (done.returncode, done.stdout, done.stderr) == (0, "pong\n", MESSAGE + "\n")


@pytest.mark.parametrize(
    "code",
    [
        "import llmgine.plugins\nllmgine.plugins.register_handlers(bus)\n",
        "from llmgine.tracing import install_tracing\ninstall_tracing(bus)\n",
    ],
)
def test_a_program_that_installs_the_tracer_gets_its_trace_and_no_warning(
    tmp_path: Path, code: str
) -> None:
    done = run(tmp_path, code)
    assert done.returncode == 0
    lines = done.stderr.splitlines()
    assert [line[:2] for line in lines] == ["▶ ", "✔ "]


@pytest.mark.parametrize("trace", [None, "0", "false"])
def test_nothing_is_said_when_tracing_is_off(tmp_path: Path, trace: str | None) -> None:
    done = run(tmp_path, "", trace)
    assert (done.returncode, done.stderr) == (0, "")


def test_the_warning_goes_through_logging_when_the_program_configures_it(
    tmp_path: Path,
) -> None:
    code = "import logging\nlogging.basicConfig(format='LOG %(name)s %(levelname)s: %(message)s')\n"
    done = run(tmp_path, code)
    assert done.stderr == f"LOG llmgine.tracing WARNING: {MESSAGE}\n"


def test_the_llmgine_command_itself_does_not_warn() -> None:
    # It traces nothing: `llmgine trace` hands the variable to the program it runs.
    env = {**os.environ, "LLMGINE_TRACE": "1", "LLMGINE_LOAD_PLUGINS": ""}
    done = subprocess.run(
        [sys.executable, "-m", "llmgine.cli", "plugins", "--check"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert (done.returncode, done.stderr) == (0, "")
