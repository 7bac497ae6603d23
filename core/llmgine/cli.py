"""The llmgine command line: the core's subcommands, the plugins' ones, and main().

The core's subcommands are ``plugins`` (see :mod:`llmgine._cli_plugins`),
``new-plugin``, ``trace`` (:mod:`llmgine._cli_trace`) and ``schema``
(:mod:`llmgine._cli_schema`); installed plugins add
theirs through the ``register_cli`` hook. The help texts are plain text: they are
printed at terminals and make the generated CLI reference.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from ._cli_plugins import add_parser as add_plugins_parser
from ._cli_schema import add_parser as add_schema_parser
from ._cli_trace import add_parser as add_trace_parser
from ._trace_watch import disarm
from .messages.errors import MessageBusException
from .plugins import PluginLoadError, get_plugin_host
from .plugins._discovery import unknown_names

__all__ = ["build_parser", "main"]

DESCRIPTION = """The llmgine command line: list the installed plugins and check them (plugins),
start a new plugin distribution (new-plugin), run a program with the tree of its
commands and events printed (trace), and print the application's commands and
events with their JSON Schema (schema). Installed plugins add subcommands of
their own, listed below (e.g. worker from llmgine-redis).
"""

EPILOG = "Run 'llmgine COMMAND -h' for the options of a command."

#: Subcommands that report unknown names in the plugin variables themselves
#: (``plugins`` lists them; under ``trace`` the program warns about them).
_REPORTS_UNKNOWN = frozenset({"plugins", "trace"})


def _cmd_new_plugin(args: argparse.Namespace) -> int:
    from ._scaffold import ScaffoldError, plugin_names, render_plugin

    try:
        names = plugin_names(args.name)
        written = render_plugin(args.name, args.dir)
    except ScaffoldError as exc:
        print(f"llmgine new-plugin: {exc}", file=sys.stderr)
        return 2
    root = args.dir if args.dir is not None else Path(names["dist"])
    for path in written:
        print(f"created {path}")
    # The plugin author's guide (docs/plugin-guide/index.md), steps 2 to 4
    # (tests/test_scaffold.py checks they match). The core is named in the same pip
    # command: until llmgine-messages is published, pip can find it only there.
    print(
        f"\nplugin {names['name']!r} (distribution {names['dist']}) is in {root}. Next:\n"
        f"  cd {root}\n"
        "  python -m venv .venv\n"
        '  .venv/bin/python -m pip install "$LLMGINE" ".[test]"\n'
        "  .venv/bin/python -m pytest -q\n"
        "  .venv/bin/llmgine plugins\n"
        "where LLMGINE is the llmgine checkout (or llmgine-messages wheel) to install the core\n"
        "from, in the same pip command as the plugin. See the plugin author's guide."
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the ``llmgine`` argument parser, with every plugin's subcommands added."""
    parser = argparse.ArgumentParser(
        prog="llmgine",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"llmgine {__version__}",
        help="print the version of the core (the llmgine-messages distribution) and exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_plugins_parser(sub)
    new = sub.add_parser(
        "new-plugin",
        help="write a new plugin distribution (pyproject, code, tests, README)",
        description="Write a new plugin distribution, ready to install and test: "
        "pyproject.toml, the plugin module with example hooks, its tests and a README. "
        "It then prints the commands to install it and run its tests.",
    )
    new.add_argument(
        "name",
        help="the plugin's name: lowercase words separated by - or _, e.g. greeter "
        "(distribution llmgine-greeter, package llmgine_greeter); an llmgine- prefix "
        "is optional; not messages (llmgine-messages is the core)",
    )
    new.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="the directory to write it to, which must not exist or be empty "
        "(default: ./llmgine-NAME)",
    )
    new.set_defaults(func=_cmd_new_plugin)
    add_trace_parser(sub)
    add_schema_parser(sub)
    host = get_plugin_host()
    # Failures are shown by `llmgine plugins` instead; a plugin that requires the core by
    # its old name loads, and is worth a line whatever the subcommand.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        infos = host.load_plugins(lenient=True)
    for warning in caught:
        if issubclass(warning.category, FutureWarning):
            print(f"llmgine: warning: {warning.message}", file=sys.stderr)
    cli_errors: dict[str, str] = {}  # by plugin name, for `llmgine plugins` to show
    for info in infos:
        if info.error is None and "register_cli" in info.hooks:
            what = "failed in its register_cli hook"
            try:
                host.guarded_call(info.name, "register_cli", what, subparsers=sub)
            except PluginLoadError as exc:  # one plugin's subcommands must not take the others down
                cli_errors[info.name] = str(exc)
                print(f"llmgine: {exc}; its subcommands are missing", file=sys.stderr)
    parser.set_defaults(cli_errors=cli_errors)
    return parser


def _tolerate_unencodable() -> None:
    # Python's stdout raises UnicodeEncodeError for, say, a subscriber's name with an
    # accent on an ASCII terminal (PYTHONIOENCODING=ascii); every subcommand, the
    # plugins' too, gets escapes instead (stderr already escapes).
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "") == "strict":
            reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``llmgine`` command line; return its exit status.

    A :class:`~llmgine.messages.errors.MessageBusException` (every plugin's expected
    failures derive from it) or a :class:`~llmgine.plugins.PluginLoadError` (a plugin
    that does not load, e.g. when a subcommand registers handlers) raised by a
    subcommand prints one line, ``llmgine <subcommand>: <message>``, on stderr and
    gives status 1; Ctrl-C gives status 130, and a closed stdout (``| head``) status 1,
    without a traceback either. Other exceptions are bugs, and keep their traceback.
    Text the terminal's encoding cannot hold is written as backslash escapes.
    """
    _tolerate_unencodable()
    # This process is not the one LLMGINE_TRACE is meant for: `llmgine trace` passes it
    # to the program it runs, which is where the tracer must be installed.
    disarm()
    command = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        command = args.command
        if not hasattr(args, "func"):
            parser.print_help()
            return 0
        if command not in _REPORTS_UNKNOWN:
            for unknown in unknown_names():
                print(f"llmgine: warning: {unknown.message}", file=sys.stderr)
        return int(args.func(args) or 0)
    except (MessageBusException, PluginLoadError) as exc:
        where = f"llmgine {command}" if command else "llmgine"
        print(f"{where}: {str(exc) or type(exc).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`llmgine plugins | head -1`): stop quietly. stdout now
        # points at devnull, or Python would report the failed flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1


if __name__ == "__main__":
    sys.exit(main())
