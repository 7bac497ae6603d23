"""``llmgine workflows list | show RUN_ID | resume [RUN_ID ...]``."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sqlite3
import sys
from collections.abc import Callable

from ._store import RunRecord, RunStore
from .errors import RunNotFoundError, WorkflowError

__all__ = ["add_commands"]

_NO_DB = (
    "no workflow database configured: runs are kept in memory by the process that runs "
    "them. Set LLMGINE_WORKFLOWS_DB=/path/to/workflows.sqlite3 (or pass --db PATH) in the "
    "processes that run workflows, to persist runs and inspect or resume them here"
)


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``workflows`` subcommand and its own subcommands."""
    parser = subparsers.add_parser("workflows", help="list, show and resume workflow runs")

    def usage(args: argparse.Namespace) -> int:
        parser.print_help()
        return 0

    parser.set_defaults(func=usage)
    sub = parser.add_subparsers(dest="workflows_command", metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", help="SQLite file of the runs (default: $LLMGINE_WORKFLOWS_DB)")

    listing = sub.add_parser("list", help="list runs, oldest first")
    common(listing)
    listing.add_argument("--status", choices=["running", "compensating", "completed", "failed"])
    listing.add_argument("--json", action="store_true", help="print JSON instead of text")
    listing.set_defaults(func=_reading(_list))

    show = sub.add_parser("show", help="show one run and its steps")
    common(show)
    show.add_argument("run_id", metavar="RUN_ID")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(func=_reading(_show))

    resume = sub.add_parser(
        "resume",
        help="finish interrupted runs (all whose process is gone, or the given ones)",
    )
    common(resume)
    resume.add_argument("run_ids", metavar="RUN_ID", nargs="*")
    resume.add_argument(
        "--force",
        action="store_true",
        help="take over the named runs even if their owner process may be alive",
    )
    resume.set_defaults(func=_reading(_resume))


def _db(args: argparse.Namespace) -> str | None:
    path: str | None = args.db or os.environ.get("LLMGINE_WORKFLOWS_DB")
    if not path:
        print(f"llmgine workflows: {_NO_DB}", file=sys.stderr)
    return path


def _open(args: argparse.Namespace) -> RunStore | int:
    """The run store ``--db`` or ``LLMGINE_WORKFLOWS_DB`` names, else the exit status."""
    path = _db(args)
    if path is None:
        return 2
    try:
        return RunStore(path, readonly=True)
    except WorkflowError as exc:  # no such file (2, like no setting), or not a database
        print(f"llmgine workflows: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, RunNotFoundError) else 1


def _reading(
    command: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """``command``, reporting a database it cannot read (corrupt, locked) in one line, exit 1."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except sqlite3.DatabaseError as exc:
            path = args.db or os.environ.get("LLMGINE_WORKFLOWS_DB")
            print(
                f"llmgine workflows: cannot read the workflow database {path}: "
                f"{type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            return 1

    return run


def _progress(run: RunRecord) -> str:
    return f"{len(run.steps)}/{len(run.step_names)}"


def _list(args: argparse.Namespace) -> int:
    store = _open(args)
    if isinstance(store, int):
        return store
    runs = store.runs(args.status)
    if args.json:
        print(json.dumps([run.to_json() for run in runs], indent=2))
        return 0
    if not runs:
        print("no workflow runs")
    for run in runs:
        print(
            f"{run.run_id}  {run.workflow_name}  {run.status}  steps {_progress(run)}  "
            f"updated {run.updated_at}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    store = _open(args)
    if isinstance(store, int):
        return store
    try:
        run = store.get(args.run_id)
    except WorkflowError as exc:
        print(f"llmgine workflows: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(run.to_json(), indent=2))
        return 0
    print(f"run {run.run_id}: workflow {run.workflow_name!r}, {run.status}")
    print(f"  owner {run.owner}, created {run.created_at}, updated {run.updated_at}")
    print(f"  input: {json.dumps(dict(run.input))}")
    if run.failed_step:
        print(f"  failed at {run.failed_step!r}: {run.error_type}: {run.error_message}")
    done = {step.index: step for step in run.steps}
    for index, name in enumerate(run.step_names):
        step = done.get(index)
        if step is None:
            print(f"  {index}. {name}: not run")
            continue
        print(f"  {index}. {name}: {step.status} at {step.completed_at}")
        print(f"     result: {json.dumps(step.result)}")
        if step.error:
            print(f"     compensation error: {step.error}")
    return 0


def _resume(args: argparse.Namespace) -> int:
    # a mistyped path must be reported, not created empty ("no interrupted workflow runs")
    store = _open(args)
    if isinstance(store, int):
        return store
    store.close()
    from llmgine.messages.bus import message_bus
    from llmgine.messages.commands import ResumeWorkflowCommand
    from llmgine.plugins import register_handlers

    from ._state import install

    engine = install(message_bus, db=store.path)  # kept by register_handlers
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
            print(f"{run_id}: not resumed: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        run = engine.get_run(run_id)
        print(f"{run_id}: {run.workflow_name} {run.status} (steps {_progress(run)})")
    message_bus.close()
    return 1 if failures else 0
