"""``llmgine.cli.main()``: a subcommand's expected failure is one line on stderr, status 1;
Ctrl-C is status 130; neither prints a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import llmgine
import pytest
from llmgine import cli
from llmgine.messages.errors import MessageBusException
from llmgine.plugins import PluginLoadError, register_plugin

pytestmark = pytest.mark.usefixtures("no_installed_plugins")


class PluginFailure(MessageBusException):
    """As a plugin's errors derive from the core's base class."""


def add_command(name: str, action: Any) -> None:
    """A plugin whose subcommand ``name`` runs ``action()``."""

    class Commands:
        @llmgine.hookimpl
        def register_cli(self, subparsers: Any) -> None:
            subparsers.add_parser(name, help="test").set_defaults(func=lambda args: action())

    register_plugin(Commands(), f"cli-{name}")


def raising(exc: BaseException) -> Any:
    def action() -> None:
        raise exc

    return action


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (
            PluginFailure("Redis at redis://127.0.0.1:1/0 is unreachable; start it or pass --url"),
            "llmgine serve: Redis at redis://127.0.0.1:1/0 is unreachable; start it or pass --url",
        ),
        (MessageBusException("the base class"), "llmgine serve: the base class"),
        (
            PluginLoadError("plugin 'x' failed to import", plugin="x"),
            "llmgine serve: plugin 'x' failed to import",
        ),
        (PluginFailure(), "llmgine serve: PluginFailure"),  # no message: its type
    ],
)
def test_a_message_bus_exception_is_one_line_and_status_1(
    capsys: pytest.CaptureFixture[str], exc: BaseException, line: str
) -> None:
    add_command("serve", raising(exc))
    assert cli.main(["serve"]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", line + "\n")


def test_other_exceptions_still_show_their_traceback() -> None:
    # A bug is not an expected failure: hiding its traceback would hide where it is.
    add_command("buggy", raising(ZeroDivisionError("bug")))
    with pytest.raises(ZeroDivisionError):
        cli.main(["buggy"])


def test_ctrl_c_is_status_130_without_output(capsys: pytest.CaptureFixture[str]) -> None:
    add_command("wait", raising(KeyboardInterrupt()))
    assert cli.main(["wait"]) == 130
    assert capsys.readouterr() == ("", "")


def test_the_console_script_exits_with_the_status(tmp_path: Path) -> None:
    # The real entry point, in a process: status and stderr as a shell sees them.
    script = tmp_path / "run.py"
    script.write_text(
        "import sys\n"
        "import llmgine\n"
        "from llmgine import cli\n"
        "from llmgine.messages.errors import MessageBusException\n"
        "from llmgine.plugins import register_plugin\n"
        "class P:\n"
        "    @llmgine.hookimpl\n"
        "    def register_cli(self, subparsers):\n"
        "        def fail(args):\n"
        "            raise MessageBusException('the database is locked; retry')\n"
        "        def stop(args):\n"
        "            raise KeyboardInterrupt\n"
        "        subparsers.add_parser('fail').set_defaults(func=fail)\n"
        "        subparsers.add_parser('stop').set_defaults(func=stop)\n"
        "register_plugin(P(), 'p')\n"
        "sys.exit(cli.main())\n"
    )
    env = {"LLMGINE_LOAD_PLUGINS": "", "PATH": "/usr/bin:/bin"}
    fail = subprocess.run(
        [sys.executable, str(script), "fail"], capture_output=True, text=True, env=env
    )
    assert (fail.returncode, fail.stdout, fail.stderr) == (
        1,
        "",
        "llmgine fail: the database is locked; retry\n",
    )
    stop = subprocess.run(
        [sys.executable, str(script), "stop"], capture_output=True, text=True, env=env
    )
    assert (stop.returncode, stop.stdout, stop.stderr) == (130, "", "")


def test_a_reader_that_goes_away_ends_the_command_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `llmgine plugins | head -1`: head exits, and the next write fails with EPIPE.
    read_end, write_end = os.pipe()
    os.close(read_end)
    with capsys.disabled(), open(write_end, "w", buffering=1) as closed_pipe:
        monkeypatch.setattr(sys, "stdout", closed_pipe)
        assert cli.main(["plugins"]) == 1
        monkeypatch.undo()
        # stdout's file descriptor now goes to devnull: a final flush cannot fail
        closed_pipe.write("x" * 100_000)
        closed_pipe.flush()
