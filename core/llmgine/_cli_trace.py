"""``llmgine trace``: run a program with the tracer switched on (and its filters set)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any

from ._trace_options import DEPTH_ENV, ONLY_ENV, parse_depth, parse_only
from .plugins._discovery import TRACE_ENV

__all__ = ["add_parser"]

DESCRIPTION = f"""\
Run a program with {TRACE_ENV}=1, so that the tree of commands and events it
handles is printed on its stderr, each line indented under the message that caused
it. The tracer is installed by register_handlers() in the program (or by
llmgine.tracing.install_tracing(bus)); a program that imports llmgine but calls
neither prints no tree, only a warning saying so when it exits.

--only and --depth are passed to the program as {ONLY_ENV} and
{DEPTH_ENV}; a program may set those variables itself. Everything
after -- is the program and its arguments; its exit status is this command's.
"""

EPILOG = """\
examples:
  llmgine trace -- python app.py
  llmgine trace --only 'app.*' -- python app.py --port 8000
  llmgine trace --only '!chat.token' --depth 2 -- python -m myapp
"""


def _only(text: str) -> str:
    try:
        parse_only(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _depth(text: str) -> int:
    try:
        return parse_depth(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: Any) -> None:
    """Add the ``trace`` subcommand to the ``llmgine`` parser's subparsers ``sub``."""
    parser = sub.add_parser(
        "trace",
        help=f"run a program with {TRACE_ENV}=1: print the tree of its commands and events",
        description=DESCRIPTION,
        epilog=EPILOG,
        usage="%(prog)s [-h] [--only PATTERN] [--depth N] -- program [args...]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        metavar="PATTERN",
        type=_only,
        help="print only the lines about message types matching one of these "
        "comma-separated fnmatch patterns, tried on the dotted type name (app.Turn), "
        "the class name (Turn) and an event's type (chat.token); !PATTERN excludes. "
        "Each line keeps its depth (default: every type)",
    )
    parser.add_argument(
        "--depth",
        metavar="N",
        type=_depth,
        help="do not print lines nested deeper than N; 0 prints the top-level commands "
        "and events only (default: no limit)",
    )
    parser.add_argument(
        "argv",
        nargs=argparse.REMAINDER,
        metavar="program [args...]",
        help="the program to run and its arguments, after -- (e.g. -- python app.py)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        print(
            "llmgine trace: give the program to run, e.g. 'llmgine trace -- python app.py'",
            file=sys.stderr,
        )
        return 2
    env = {**os.environ, TRACE_ENV: "1"}
    if args.only is not None:
        env[ONLY_ENV] = args.only
    if args.depth is not None:
        env[DEPTH_ENV] = str(args.depth)
    try:
        if os.name == "posix":
            # The program takes this process's place, as under `env VAR=1 program`: a
            # Ctrl-C reaches it alone (a child would share it with us, and subprocess
            # kills the child a quarter second later, cutting its shutdown short), and
            # its exit status is the command's.
            sys.stdout.flush()
            sys.stderr.flush()
            os.execvpe(command[0], command, env)
        return subprocess.call(command, env=env)
    except FileNotFoundError:
        print(f"llmgine trace: command not found: {command[0]}", file=sys.stderr)
        return 127
    except OSError as exc:  # e.g. not executable
        print(f"llmgine trace: cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
        return 126
