"""The ``llmgine`` command: ``llmgine plugins`` lists what is installed and what it provides.

Plugins add subcommands through the ``register_cli`` hook.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .messages.bus import MessageBus
from .plugins import DISABLE_ENV, PluginHost, PluginLoadError, get_plugin_host, normalize
from .plugins._discovery import TRACE_ENV, excluded

__all__ = ["main"]


def _plugin_rows(host: PluginHost, cli_errors: dict[str, str]) -> list[dict[str, Any]]:
    with warnings.catch_warnings():  # failures are shown in the listing instead
        warnings.simplefilter("ignore")
        infos = host.load_plugins(lenient=True)
    # Shared by the plugins listed so far and never started: a command two plugins
    # handle is refused here as register_handlers() would refuse it.
    throwaway = MessageBus.isolated()
    rows = []
    for info in infos:
        row: dict[str, Any] = {
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "module": info.module,
            "hooks": list(info.hooks),
            "messages": list(info.messages),
            "commands": [],
            "subscriptions": [],
            "state": "error" if info.error else "active",
            "error": info.error,
            "activate": None,
            "disabled_by": None,
        }
        if info.status is not None:
            if info.error is None:  # a plugin that failed its checks is an error, whatever it says
                row["state"] = "active" if info.status.active else "idle"
            row["detail"] = info.status.detail
            row["activate"] = info.status.activate
        if info.error is None:
            try:
                row["commands"], row["subscriptions"] = host.provided_by(info.name, throwaway)
            except PluginLoadError as exc:  # a plugin's hook is broken: report it, keep listing
                cause = exc.__cause__
                row["state"], row["error"] = "error", f"{type(cause).__name__}: {cause}"
        if info.name in cli_errors and row["error"] is None:
            row["state"], row["error"] = "error", cli_errors[info.name]
        rows.append(row)
    rows += _disabled_rows()
    # Load order (loaded plugins are in it already; the sort is stable).
    rows.sort(key=lambda row: (normalize(row["distribution"] or ""), row["name"]))
    return rows


def _disabled_rows() -> list[dict[str, Any]]:
    """Rows for the plugins the environment excludes, from their metadata only: they are
    listed so that users can see the variable took effect, and must not be imported."""
    return [
        {
            "name": candidate.name,
            "distribution": candidate.dist_name,
            "version": candidate.dist_version,
            "module": candidate.entry_point.value,
            "hooks": [],
            "messages": [],
            "commands": [],
            "subscriptions": [],
            "state": "disabled",
            "error": None,
            "activate": None,
            "disabled_by": by,
        }
        for candidate, by in excluded()
    ]


def _cmd_plugins(args: argparse.Namespace) -> int:
    rows = _plugin_rows(get_plugin_host(), args.cli_errors)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no llmgine plugins installed (entry-point group 'llmgine.plugins')")
        return 0
    for row in rows:
        dist = f"{row['distribution']} {row['version']}" if row["distribution"] else row["module"]
        print(f"{row['name']}  [{row['state']}]  {dist}")
        if row["error"]:
            print(f"  error: {row['error']}")
        if row["disabled_by"]:
            how = "blocked by" if row["disabled_by"] == DISABLE_ENV else "not selected by"
            print(f"  disabled: {how} {row['disabled_by']} (not imported)")
        if row.get("detail"):
            print(f"  status: {row['detail']}")
        if row["activate"]:
            print(f"  activate: {row['activate']}")
        for label in ("hooks", "messages", "commands", "subscriptions"):
            if row[label]:
                print(f"  {label}: {', '.join(row[label])}")
    return 0


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
    # The plugin author's guide in the README, steps 2 to 4 (tests/test_scaffold.py checks
    # they match). The core is named in the same pip command: until llmgine-messages is
    # published, pip can find it only there.
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


def _cmd_trace(args: argparse.Namespace) -> int:
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        print(
            "llmgine trace: give the program to run, e.g. 'llmgine trace -- python app.py'",
            file=sys.stderr,
        )
        return 2
    env = {**os.environ, TRACE_ENV: "1"}
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


def build_parser() -> argparse.ArgumentParser:
    """Return the ``llmgine`` argument parser, with every plugin's subcommands added."""
    parser = argparse.ArgumentParser(prog="llmgine", description=__doc__)
    parser.add_argument("--version", action="version", version=f"llmgine {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    plugins = sub.add_parser("plugins", help="list installed plugins and what they provide")
    plugins.add_argument("--json", action="store_true", help="print JSON instead of text")
    plugins.set_defaults(func=_cmd_plugins)
    new = sub.add_parser(
        "new-plugin", help="write a new plugin distribution (pyproject, code, tests, README)"
    )
    new.add_argument("name", help="plugin name, e.g. 'greeter' (gives llmgine-greeter)")
    new.add_argument(
        "--dir", type=Path, default=None, help="where to write it (default: ./llmgine-NAME)"
    )
    new.set_defaults(func=_cmd_new_plugin)
    trace = sub.add_parser(
        "trace",
        help="run a program with LLMGINE_TRACE=1: print the tree of commands and events",
    )
    trace.add_argument("argv", nargs=argparse.REMAINDER, help="-- program [args...]")
    trace.set_defaults(func=_cmd_trace)
    host = get_plugin_host()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        infos = host.load_plugins(lenient=True)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``llmgine`` command line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
