"""Run state in SQLite (standard library): one row per run, one per completed step.

Every change is committed before the engine moves on, so a process that dies
mid-run leaves the run resumable from its last completed step. ``":memory:"``
(the default when ``LLMGINE_WORKFLOWS_DB`` is unset) keeps the same schema in
memory: nothing touches the disk, and nothing survives the process.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
from llmgine.plugins.files import DEFAULT_FILE_MODE, parse_file_mode

from ._dbfile import columns, open_readonly, open_store
from ._owners import may_be_driving, owned_elsewhere, this_owner
from .errors import RunNotFoundError, WorkflowRunError

__all__ = ["RunRecord", "RunStore", "StepRecord", "to_json"]

#: run statuses; the first two are unfinished (resumable when their owner is gone)
UNFINISHED = ("running", "compensating")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def to_json(value: Any, what: str) -> str:
    """Encode ``value`` as JSON text, or raise ``TypeError`` naming ``what``."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{what} is {value!r}, which cannot be stored as JSON ({exc}); workflow inputs "
            "and step results must be JSON values (dict, list, str, int, float, bool, None)"
        ) from None


@attrs.frozen
class StepRecord:
    """A completed step: ``status`` is completed, compensated or compensation_failed.

    ``completed_at`` is when the step completed; ``compensated_at`` when its
    compensation ran (succeeded or failed), ``None`` if it did not, or if the database
    was written by a version that did not record it.
    """

    index: int
    name: str
    status: str
    result: Any
    error: str | None
    completed_at: str
    compensated_at: str | None = None


@attrs.frozen
class RunRecord:
    """A run as stored: its workflow, input, status, owner and completed steps.

    ``status`` is ``running``, ``compensating`` (a step failed; undoing),
    ``completed`` or ``failed``.
    """

    run_id: str
    workflow_name: str
    input: Mapping[str, Any]
    step_names: tuple[str, ...]
    status: str
    owner: str
    failed_step: str | None
    error_type: str | None
    error_message: str | None
    created_at: str
    updated_at: str
    steps: tuple[StepRecord, ...]

    @property
    def results(self) -> dict[str, Any]:
        """Each completed step's result, by step name."""
        return {step.name: step.result for step in self.steps}

    @property
    def finished(self) -> bool:
        """Whether the run completed or failed (nothing left to resume)."""
        return self.status not in UNFINISHED

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the run and its steps."""
        data = attrs.asdict(self, recurse=True)
        data["input"] = dict(self.input)
        data["step_names"] = list(self.step_names)
        return data


class RunStore:
    """Workflow runs in one SQLite database (``":memory:"`` or a file path).

    Safe to share between threads; several processes may use the same file. A missing
    file is created with exactly ``file_mode`` (default 0600: only the owner reads it; an
    octal string like ``"0640"`` or an int), and SQLite gives its ``-journal`` file the
    same mode; an existing file keeps its mode.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ":memory:",
        *,
        readonly: bool = False,
        file_mode: int | str = DEFAULT_FILE_MODE,
    ):
        self.path = str(path)
        mode = parse_file_mode(file_mode, "RunStore(file_mode=...)")
        self._conn = open_readonly(self.path) if readonly else open_store(self.path, mode)
        #: what the steps' compensated_at is read as: NULL in a file of an older version
        self._compensated_at = (
            "compensated_at" if "compensated_at" in columns(self._conn, "steps") else "NULL"
        )
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<RunStore {self.path}>"

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def _write(self, sql: str, args: Sequence[Any]) -> int:
        with self._lock, self._conn:
            return self._conn.execute(sql, args).rowcount

    # Writing -----------------------------------------------------------------------

    def create_run(
        self,
        run_id: str,
        workflow_name: str,
        input_json: str,
        step_names: Sequence[str],
        *,
        owner: str | None = None,
    ) -> bool:
        """Add a running run owned by ``owner`` (default: this process); False if it exists."""
        now = _now()
        with self._lock, self._conn:
            inserted = self._conn.execute(
                "INSERT OR IGNORE INTO runs (run_id, workflow_name, input, step_names, status,"
                " owner, created_at, updated_at) VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
                (
                    run_id,
                    workflow_name,
                    input_json,
                    json.dumps(list(step_names)),
                    owner or this_owner(),
                    now,
                    now,
                ),
            ).rowcount
        return bool(inserted)

    def claim(self, run_id: str, *, force: bool = False, owner: str | None = None) -> RunRecord:
        """Make ``owner`` (default: this process) the owner of unfinished run ``run_id``.

        Atomic across processes. Raises :class:`WorkflowRunError` if another owner may
        be driving it (an engine of this process that is, a live process of this host,
        any process of another host), unless ``force``.
        """
        owner = owner or this_owner()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")  # no other process claims in between
            try:
                run = self._get(run_id)
                if run.finished:
                    self._conn.execute("ROLLBACK")
                    return run
                if not force and run.owner != owner and may_be_driving(run.owner, run_id):
                    raise WorkflowRunError(owned_elsewhere(run_id, run.owner))
                self._conn.execute(
                    "UPDATE runs SET owner = ?, updated_at = ? WHERE run_id = ?",
                    (owner, _now(), run_id),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            return self._get(run_id)

    def record_step(self, run_id: str, index: int, name: str, result_json: str) -> None:
        """Record step ``index`` as completed with its (JSON) result."""
        now = _now()
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO steps (run_id, step_index, step_name, status, result, completed_at)"
                " VALUES (?, ?, ?, 'completed', ?, ?)",
                (run_id, index, name, result_json, now),
            )
            self._conn.execute("UPDATE runs SET updated_at = ? WHERE run_id = ?", (now, run_id))

    def record_failure(
        self,
        run_id: str,
        step: str,
        error_type: str,
        message: str,
        *,
        unstored_index: int | None = None,
    ) -> None:
        """Mark the run as compensating after step ``step`` failed.

        With ``unstored_index``, the step's handler ran but its result could not be
        stored: the step is recorded as completed with a null result, in the same
        transaction, so that compensating (also after a crash) undoes it.
        """
        now = _now()
        with self._lock, self._conn:
            if unstored_index is not None:
                self._conn.execute(
                    "INSERT INTO steps (run_id, step_index, step_name, status, result,"
                    " completed_at) VALUES (?, ?, ?, 'completed', 'null', ?)",
                    (run_id, unstored_index, step, now),
                )
            self._conn.execute(
                "UPDATE runs SET status = 'compensating', failed_step = ?, error_type = ?,"
                " error_message = ?, updated_at = ? WHERE run_id = ?",
                (step, error_type, message, now, run_id),
            )

    def record_compensation(self, run_id: str, index: int, error: str | None) -> None:
        """Mark step ``index`` compensated (or, with ``error``, its compensation failed), now."""
        status = "compensated" if error is None else "compensation_failed"
        self._write(
            "UPDATE steps SET status = ?, error = ?, compensated_at = ?"
            " WHERE run_id = ? AND step_index = ?",
            (status, error, _now(), run_id, index),
        )

    def finish(self, run_id: str, status: str) -> None:
        """Set the run's final status: ``completed`` or ``failed``."""
        self._write(
            "UPDATE runs SET status = ?, updated_at = ? WHERE run_id = ?",
            (status, _now(), run_id),
        )

    # Reading -----------------------------------------------------------------------

    def get(self, run_id: str) -> RunRecord:
        """Return run ``run_id`` with its steps, or raise :class:`RunNotFoundError`."""
        with self._lock:
            return self._get(run_id)

    def _get(self, run_id: str) -> RunRecord:
        row = self._conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(f"no workflow run {run_id!r} in {self.path}")
        return self._record(row)

    def runs(self, status: str | None = None) -> list[RunRecord]:
        """Every run (or those with ``status``), oldest first."""
        sql, args = "SELECT * FROM runs", tuple[str, ...]()
        if status is not None:
            sql, args = sql + " WHERE status = ?", (status,)
        with self._lock:
            return [self._record(row) for row in self._conn.execute(sql + " ORDER BY rowid", args)]

    def interrupted(self) -> list[RunRecord]:
        """Unfinished runs nobody drives: their process is gone, or is this one, not driving."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM runs WHERE status IN (?, ?) ORDER BY rowid", UNFINISHED
            ).fetchall()
            runs = [self._record(row) for row in rows]
        return [run for run in runs if not may_be_driving(run.owner, run.run_id)]

    def _record(self, row: tuple[Any, ...]) -> RunRecord:
        (run_id, name, input_json, names, status, owner, failed, etype, emsg, created, updated) = (
            row
        )
        steps = self._conn.execute(
            "SELECT step_index, step_name, status, result, error, completed_at,"
            f" {self._compensated_at} FROM steps WHERE run_id = ? ORDER BY step_index",
            (run_id,),
        ).fetchall()
        return RunRecord(
            run_id=run_id,
            workflow_name=name,
            input=json.loads(input_json),
            step_names=tuple(json.loads(names)),
            status=status,
            owner=owner,
            failed_step=failed,
            error_type=etype,
            error_message=emsg,
            created_at=created,
            updated_at=updated,
            steps=tuple(
                StepRecord(
                    index=i,
                    name=n,
                    status=s,
                    result=json.loads(r),
                    error=e,
                    completed_at=at,
                    compensated_at=undone,
                )
                for i, n, s, r, e, at, undone in steps
            ),
        )
