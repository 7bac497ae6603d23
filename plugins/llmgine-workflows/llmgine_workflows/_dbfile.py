"""The run store's SQLite file: opened (created, its schema brought up to date) or read only.

What cannot be opened raises :class:`RunStoreError` naming the file, the problem (no
such file, a directory, a file where a directory should be, no permission, not a
workflow database) and what to check.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from llmgine.plugins.files import create_file

from .errors import RunStoreError

__all__ = ["columns", "open_readonly", "open_store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    workflow_name TEXT NOT NULL,
    input TEXT NOT NULL,
    step_names TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT NOT NULL,
    failed_step TEXT,
    error_type TEXT,
    error_message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    step_index INTEGER NOT NULL,
    step_name TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT NOT NULL,
    error TEXT,
    completed_at TEXT NOT NULL,
    compensated_at TEXT,
    PRIMARY KEY (run_id, step_index)
);
"""

#: columns added since the first schema: (table, column, type); added on opening a file
_ADDED = [("steps", "compensated_at", "TEXT")]

#: what to check when a file cannot be used, by who names it
_HINT_CLI = "check --db or LLMGINE_WORKFLOWS_DB"
_HINT = "check LLMGINE_WORKFLOWS_DB, or the path given to install(bus, db=...) or RunStore()"


def open_store(path: str, mode: int) -> sqlite3.Connection:
    """Open (creating it with ``mode`` if missing) the run store at ``path``, up to date."""
    try:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            create_file(path, mode)  # sqlite3 would create it 0644
        conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
    except (OSError, sqlite3.Error) as exc:
        raise RunStoreError(f"{_cannot_open(path, exc)}; {_HINT}") from exc
    try:
        with conn:
            conn.executescript(_SCHEMA)
        for table, column, kind in _ADDED:
            if column not in columns(conn, table):
                try:
                    with conn:
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                except sqlite3.OperationalError:
                    if column not in columns(conn, table):  # (not added by another process)
                        raise
    except sqlite3.Error as exc:
        conn.close()
        raise RunStoreError(f"{path} is not a workflow database ({exc}); {_HINT}") from exc
    return conn


def open_readonly(path: str) -> sqlite3.Connection:
    """Open the run store at ``path`` read-only; raise :class:`RunStoreError` saying why not."""
    if not Path(path).is_file():
        raise RunStoreError(f"{_cannot_open(path, None)}; {_HINT_CLI}")
    try:
        with open(path, "rb"):  # sqlite3 says only "unable to open database file"
            pass
    except OSError as exc:
        raise RunStoreError(f"{_cannot_open(path, exc)}; {_HINT_CLI}") from None
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:  # sqlite3 reads nothing until the first query: a wrong file passes connect
        conn.execute("SELECT run_id FROM runs LIMIT 0")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise RunStoreError(f"{path} is not a workflow database ({exc}); {_HINT_CLI}") from None
    return conn


def _cannot_open(path: str, exc: BaseException | None) -> str:
    """What is wrong with ``path`` as a database file (``exc``: the error opening it)."""
    where = Path(path)
    if where.is_dir():
        return f"{path} is a directory, not a workflow database file"
    for parent in where.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"cannot use {path}: {parent} is a file, not a directory"
            break
    if isinstance(exc, PermissionError):
        return f"cannot open {path}: permission denied"
    if exc is None or isinstance(exc, FileNotFoundError):
        return f"no workflow database at {path} (no such file)"
    return f"cannot open {path} ({type(exc).__name__}: {exc})"


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The names of ``table``'s columns."""
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
