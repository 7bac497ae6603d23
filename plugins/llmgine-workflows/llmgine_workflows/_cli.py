"""``llmgine workflows list | show RUN_ID | resume [RUN_ID ...]``.

A database that cannot be read (no such file, a directory, no permission, not a
workflow database, corrupt) is a :class:`~llmgine_workflows.RunStoreError` (a
``MessageBusException``), which each command prints as the one line
``llmgine workflows: <message>`` on stderr, exit status 1: the form ``llmgine``
itself gives such errors. No database configured at all is a usage error: exit 2.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sqlite3
import sys
from collections.abc import Callable

from llmgine.plugins.errors import PluginLoadError

from ._engine import DB_ENV
from ._output import cell, table
from ._store import RunRecord, RunStore, StepRecord
from .errors import RunStoreError, WorkflowError

__all__ = ["add_commands"]

_NO_DB = (
    "no workflow database configured: runs are kept in memory by the process that runs "
    f"them. Set {DB_ENV}=/path/to/workflows.sqlite3 (or pass --db PATH) in the "
    "processes that run workflows, to persist runs and inspect or resume them here"
)

_STATUSES = ["running", "compensating", "completed", "failed"]


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``workflows`` subcommand and its own subcommands."""
    parser = subparsers.add_parser(
        "workflows",
        help="list, show and resume the workflow runs kept in a SQLite file",
        description="List, show and resume the workflow runs that processes with "
        f"{DB_ENV} set (or llmgine_workflows.install(bus, db=PATH)) keep in that SQLite "
        "file. list and show only read it.",
    )

    def usage(args: argparse.Namespace) -> int:
        parser.print_help()
        return 0

    parser.set_defaults(func=usage)
    sub = parser.add_subparsers(
        dest="workflows_command", metavar="ACTION", help="what to do (each takes -h)"
    )

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", metavar="PATH", help=f"SQLite file of the runs (default: ${DB_ENV})")

    listing = sub.add_parser(
        "list",
        help="list runs, oldest first",
        description="List the runs, oldest first: id, workflow, status, steps done of all, "
        "last update (UTC).",
    )
    common(listing)
    listing.add_argument(
        "--status",
        choices=_STATUSES,
        help="only the runs with this status (default: every run)",
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=_command(_list))

    show = sub.add_parser(
        "show",
        help="show one run and its steps",
        description="Show one run: its workflow, status, owner, input, the step that failed, "
        "and each step with what happened to it and when (UTC), and its result.",
    )
    common(show)
    show.add_argument(
        "run_id", metavar="RUN_ID", help="the run's id (the command_id of its start command)"
    )
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(func=_command(_show))

    resume = sub.add_parser(
        "resume",
        help="finish interrupted runs (all whose process is gone, or the given ones)",
        description="Resume interrupted runs from their last completed step, in this "
        "process, with the workflows and handlers of the installed plugins.",
    )
    common(resume)
    resume.add_argument(
        "run_ids",
        metavar="RUN_ID",
        nargs="*",
        help="the runs to resume (default: every unfinished run whose process is gone)",
    )
    resume.add_argument(
        "--force",
        action="store_true",
        help="take over the named runs even if their owner process may be alive",
    )
    resume.set_defaults(func=_command(_resume))


def _command(
    command: Callable[[argparse.Namespace, RunStore], int],
) -> Callable[[argparse.Namespace], int]:
    """``command`` on the database ``--db`` or the environment names, opened read-only.

    Every failure to read it (and any other workflows error, or a plugin that fails to
    load for ``resume``) is one line on stderr, exit status 1.
    """

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        path = args.db or os.environ.get(DB_ENV)
        if not path:
            print(f"llmgine workflows: {_NO_DB}", file=sys.stderr)
            return 2
        try:
            try:
                store = RunStore(path, readonly=True)
            except sqlite3.DatabaseError as exc:  # read past its first page: corrupt
                raise RunStoreError(f"cannot read the workflow database {path}: {exc}") from exc
            try:
                return command(args, store)
            except sqlite3.DatabaseError as exc:
                raise RunStoreError(
                    f"cannot read the workflow database {path}: {type(exc).__name__}: {exc}"
                ) from exc
            finally:
                store.close()
        except (WorkflowError, PluginLoadError) as exc:  # (resume loads the plugins)
            print(f"llmgine workflows: {' '.join(str(exc).split())}", file=sys.stderr)
            return 1

    return run


def _progress(run: RunRecord) -> str:
    return f"{len(run.steps)}/{len(run.step_names)}"


def _list(args: argparse.Namespace, store: RunStore) -> int:
    runs = store.runs(args.status)
    if args.json:
        print(json.dumps([run.to_json() for run in runs], indent=2))
        return 0
    if not runs:
        print("no workflow runs" + (f" with status {args.status}" if args.status else ""))
        return 0
    rows = [
        [run.run_id, run.workflow_name, run.status, _progress(run), run.updated_at] for run in runs
    ]
    print("\n".join(table(["RUN", "WORKFLOW", "STATUS", "STEPS", "UPDATED"], rows)))
    return 0


def _show(args: argparse.Namespace, store: RunStore) -> int:
    run = store.get(args.run_id)
    if args.json:
        print(json.dumps(run.to_json(), indent=2))
        return 0
    print(f"run {cell(run.run_id)}: workflow {cell(repr(run.workflow_name))}, {run.status}")
    print(f"  owner {cell(run.owner)}, created {run.created_at}, updated {run.updated_at}")
    print(f"  input: {json.dumps(dict(run.input))}")
    failure = f"{run.error_type}: {run.error_message}"
    if run.failed_step:
        print(f"  failed at {cell(repr(run.failed_step))}: {cell(failure)}")
    done = {step.index: step for step in run.steps}
    for index, name in enumerate(run.step_names):
        step = done.get(index)
        if step is not None:
            for i, line in enumerate(_what_happened(step)):
                print(f"  {index}. {cell(name)}: {line}" if i == 0 else f"     {line}")
            print(f"     result: {json.dumps(step.result)}")
        elif name == run.failed_step:
            print(f"  {index}. {cell(name)}: failed: {cell(failure)}")
        else:
            print(f"  {index}. {cell(name)}: not run")
    return 0


def _what_happened(step: StepRecord) -> list[str]:
    """A stored step's status, then (if it was undone) when it completed and was undone."""
    if step.status == "completed":
        return [f"completed at {step.completed_at}"]
    undone = "compensated" if step.status == "compensated" else "compensation failed"
    headline = undone if step.error is None else f"{undone}: {cell(step.error)}"
    when = f"at {step.compensated_at}" if step.compensated_at else "(time not recorded)"
    return [headline, f"completed at {step.completed_at}, {undone} {when}"]


def _resume(args: argparse.Namespace, store: RunStore) -> int:
    # opened read-only first: a mistyped path is reported, not created empty
    path = store.path
    from llmgine.messages.bus import message_bus
    from llmgine.messages.commands import ResumeWorkflowCommand
    from llmgine.plugins import register_handlers

    from ._state import install

    engine = install(message_bus, db=path)  # kept by register_handlers
    register_handlers(message_bus)
    run_ids = args.run_ids or [run.run_id for run in engine.interrupted()]
    if not run_ids:
        print("no interrupted workflow runs")
    failures = 0
    for run_id in run_ids:
        try:
            if args.force:
                engine.store.claim(run_id, force=True, owner=engine.owner)
            message_bus.dispatch(ResumeWorkflowCommand(run_id))
        except Exception as exc:
            failures += 1
            print(f"{cell(run_id)}: not resumed: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        run = engine.get_run(run_id)
        print(f"{cell(run_id)}: {cell(run.workflow_name)} {run.status} (steps {_progress(run)})")
    message_bus.close()
    return 1 if failures else 0
