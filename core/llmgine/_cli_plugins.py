"""``llmgine plugins``: the installed plugins, their state, what they provide; ``--check``."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

from .messages.bus import MessageBus
from .plugins import DISABLE_ENV, LOAD_ENV, PluginHost, PluginLoadError, get_plugin_host, normalize
from .plugins._discovery import scan, unknown_names

__all__ = ["add_parser", "plugin_rows"]

DESCRIPTION = f"""\
List the installed plugins (entry-point group llmgine.plugins) in load order, one
row each: name, [state], distribution and version, then what the plugin provides
(hooks, messages, commands, subscriptions).

States:
  active    loaded and ready
  idle      loaded, but not configured yet (its "activate" line says how)
  error     failed to load or to register (its "error" line says why)
  disabled  excluded by {LOAD_ENV} or {DISABLE_ENV}; not imported
  unknown   a name in one of those two variables that no installed plugin has
"""

EPILOG = """\
examples:
  llmgine plugins
  llmgine plugins --check          # in CI: exit 1 on a broken plugin or a typo
  llmgine plugins --json | python -m json.tool
"""


def add_parser(sub: Any) -> None:
    """Add the ``plugins`` subcommand to the ``llmgine`` parser's subparsers ``sub``."""
    parser = sub.add_parser(
        "plugins",
        help="list installed plugins and what they provide; --check finds problems",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the listing as a JSON list with one object per row (keys: name, "
        "state, error, distribution, version, hooks, commands, ...) instead of text "
        "(default: text)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"print only the problems: plugins in error and names in {LOAD_ENV} or "
        f"{DISABLE_ENV} that match no installed plugin; exit 1 if there is one, 0 if not "
        "(default: list everything and exit 0). With --json, print the JSON listing "
        "and the problems on stderr",
    )
    parser.set_defaults(func=_run)


def plugin_rows(host: PluginHost, cli_errors: dict[str, str]) -> list[dict[str, Any]]:
    """The rows of ``llmgine plugins``: every installed plugin in load order (loaded,
    failed or disabled), then the unknown names in the two plugin variables."""
    with warnings.catch_warnings():  # failures are shown in the listing instead
        warnings.simplefilter("ignore")
        infos = host.load_plugins(lenient=True)
    # Shared by the plugins listed so far and never started: a command two plugins
    # handle is refused here as register_handlers() would refuse it.
    throwaway = MessageBus.isolated()
    rows = []
    for info in infos:
        row = _row(info.name, info.distribution, info.version, info.module)
        row.update(hooks=list(info.hooks), messages=list(info.messages), error=info.error)
        row["state"] = "error" if info.error else "active"
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
    # Plugins the environment excludes, from their metadata only: listed so that users
    # can see the variable took effect, and not imported.
    found = scan()
    for candidate, by in found:
        if by is not None:
            row = _row(candidate.name, candidate.dist_name, candidate.dist_version, None)
            row.update(module=candidate.entry_point.value, state="disabled", disabled_by=by)
            rows.append(row)
    # Load order (loaded plugins are in it already; the sort is stable).
    rows.sort(key=lambda row: (normalize(row["distribution"] or ""), row["name"]))
    for unknown in unknown_names(found):
        row = _row(unknown.name, None, None, None)
        row.update(state="unknown", error=unknown.message, unknown_in=unknown.variable)
        row["suggestion"] = unknown.suggestion
        rows.append(row)
    return rows


def _row(
    name: str, distribution: str | None, version: str | None, module: str | None
) -> dict[str, Any]:
    return {
        "name": name,
        "distribution": distribution,
        "version": version,
        "module": module,
        "hooks": [],
        "messages": [],
        "commands": [],
        "subscriptions": [],
        "state": None,
        "error": None,
        "activate": None,
        "disabled_by": None,
        "unknown_in": None,  # the variable naming an unknown plugin
        "suggestion": None,  # the installed name closest to an unknown one
    }


def _problems(rows: list[dict[str, Any]]) -> list[str]:
    problems = []
    for row in rows:
        if row["state"] == "error":
            named = row["error"].startswith(f"plugin {row['name']!r}")  # most errors are
            problems.append(row["error"] if named else f"plugin {row['name']!r}: {row['error']}")
        elif row["state"] == "unknown":
            problems.append(row["error"])
    return problems


def _run(args: argparse.Namespace) -> int:
    rows = plugin_rows(get_plugin_host(), args.cli_errors)
    problems = _problems(rows)
    if args.json:
        print(json.dumps(rows, indent=2))
        if args.check:
            for problem in problems:
                print(f"llmgine plugins: {problem}", file=sys.stderr)
    elif args.check:
        for problem in problems:
            print(problem)
        if not problems:
            installed = sum(row["state"] != "unknown" for row in rows)
            print(
                f"ok: {installed} plugin{'s' * (installed != 1)} installed, none in error; "
                f"no unknown names in {LOAD_ENV} or {DISABLE_ENV}"
            )
    else:
        _print_listing(rows, problems)
    return 1 if args.check and problems else 0


def _print_listing(rows: list[dict[str, Any]], problems: list[str]) -> None:
    if not any(row["state"] != "unknown" for row in rows):
        print("no llmgine plugins installed (entry-point group 'llmgine.plugins')")
    # Aligned columns: name, [state], distribution and version.
    name_width = max((len(row["name"]) for row in rows), default=0)
    state_width = max((len(row["state"]) + 2 for row in rows), default=0)
    for row in rows:
        if row["state"] == "unknown":
            where = "not installed"
        elif row["distribution"]:
            where = f"{row['distribution']} {row['version']}"
        else:
            where = row["module"]
        state = f"[{row['state']}]"
        print(f"{row['name']:<{name_width}}  {state:<{state_width}}  {where}")
        for line in _details(row):
            print(f"  {line}")
    if problems:
        errors = sum(row["state"] == "error" for row in rows)
        unknown = len(problems) - errors
        counts = [f"{errors} plugin{'s' * (errors != 1)} in error"] if errors else []
        counts += [f"{unknown} unknown name{'s' * (unknown != 1)}"] if unknown else []
        print(f"\nproblems: {', '.join(counts)} (llmgine plugins --check exits 1 on them)")


def _details(row: dict[str, Any]) -> list[str]:
    lines = []
    if row["error"]:
        lines.append(f"error: {row['error']}")
    if row["disabled_by"]:
        how = "blocked by" if row["disabled_by"] == DISABLE_ENV else "not selected by"
        lines.append(f"disabled: {how} {row['disabled_by']} (not imported)")
    if row.get("detail"):
        lines.append(f"status: {row['detail']}")
    if row["activate"]:
        lines.append(f"activate: {row['activate']}")
    for label in ("hooks", "messages", "commands", "subscriptions"):
        if row[label]:
            lines.append(f"{label}: {', '.join(row[label])}")
    return lines
