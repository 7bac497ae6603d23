"""A resource store in a SQLite file (standard library only): data survives a restart."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

from llmgine.plugins.files import DEFAULT_FILE_MODE, create_file, parse_file_mode

from ._store import CreateResult, Resource, check_type, new_resource_id
from .errors import IdempotencyConflict, ResourceNotFound, ResourceStoreError

__all__ = ["SqliteResourceStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_by_type ON resources (type, seq);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    resource_id TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL
);
"""


class SqliteResourceStore:
    """Keeps resources in the SQLite database file ``path`` (created if missing).

    ``resource_data`` is stored as JSON, so it must be JSON-serializable. Every
    change is committed before the command returns. One connection is shared by
    all threads behind a lock; several processes may use the same file (SQLite
    locks it, and an idempotent create is one write transaction).

    The database uses SQLite's write-ahead log (``journal_mode=WAL``, so a
    ``-wal`` and a ``-shm`` file sit beside it). By default commits survive a
    crash of the process but the last ones may be lost if the machine loses
    power (``synchronous=NORMAL``); ``durable=True`` syncs every commit to disk
    (``synchronous=FULL``), which makes each change several times slower.

    A missing database file is created with exactly ``file_mode`` (default 0600: only
    the owner reads it; an octal string like ``"0640"`` or an int), and SQLite gives
    its ``-wal`` and ``-shm`` files the same mode; an existing file keeps its mode.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durable: bool = False,
        file_mode: int | str = DEFAULT_FILE_MODE,
    ) -> None:
        self.path = Path(path)
        self.durable = durable
        #: the mode the database file is created with
        self.file_mode = parse_file_mode(file_mode, "SqliteResourceStore(file_mode=...)")
        self._lock = threading.Lock()
        try:
            if str(path) != ":memory:":
                create_file(self.path, self.file_mode)  # sqlite3 would create it 0644
            # isolation_level=None: we issue BEGIN IMMEDIATE/COMMIT ourselves
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                self.path, timeout=30, check_same_thread=False, isolation_level=None
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise ResourceStoreError(
                f"cannot open the resource database {str(self.path)!r}: {_problem(self.path, exc)}"
                "; the path comes from LLMGINE_RESOURCES_DB or SqliteResourceStore(path)"
            ) from exc

    def __repr__(self) -> str:
        return f"<SqliteResourceStore {str(self.path)!r}>"

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking SQLite's write lock up front."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # also after a failed COMMIT (disk full, I/O error), which may leave the
                # transaction open: every later BEGIN would fail, and reads on this
                # connection would see the uncommitted change
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"{self!r} is closed; create a new SqliteResourceStore")
        return self._conn

    def create(
        self, resource_type: str, data: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> CreateResult:
        """Store a new resource and return its id (see :class:`ResourceStore`)."""
        text = _to_json(resource_type, data)
        with self._write() as conn:
            if idempotency_key is not None:
                first = conn.execute(
                    "SELECT resource_id, type, data FROM idempotency_keys WHERE key = ?",
                    (idempotency_key,),
                ).fetchone()
                if first is not None:
                    # compare the JSON text, not the decoded values: == says True == 1 == 1.0,
                    # which a later read tells apart. Re-encoding the stored text keeps this
                    # true for rows written with other formatting.
                    first_text = _to_json(first[1], json.loads(first[2]))
                    if first[1] != resource_type or first_text != text:
                        raise IdempotencyConflict(idempotency_key, first[0], first[1])
                    return CreateResult(first[0], False)
            resource_id = new_resource_id()
            conn.execute(
                "INSERT INTO resources (id, type, data) VALUES (?, ?, ?)",
                (resource_id, resource_type, text),
            )
            if idempotency_key is not None:
                conn.execute(
                    "INSERT INTO idempotency_keys (key, resource_id, type, data) "
                    "VALUES (?, ?, ?, ?)",
                    (idempotency_key, resource_id, resource_type, text),
                )
        return CreateResult(resource_id, True)

    def as_stored(self, resource_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """``data`` as :meth:`get` returns it once stored: decoded from its JSON, so a
        tuple becomes a list and a non-str key a str."""
        result: dict[str, Any] = json.loads(_to_json(resource_type, data))
        return result

    def update(self, resource_id: str, resource_type: str, data: Mapping[str, Any]) -> None:
        """Replace the data of an existing resource (see :class:`ResourceStore`)."""
        text = _to_json(resource_type, data)
        with self._write() as conn:
            self._check(conn, resource_id, resource_type)
            conn.execute("UPDATE resources SET data = ? WHERE id = ?", (text, resource_id))

    def delete(self, resource_id: str, resource_type: str) -> None:
        """Remove an existing resource (see :class:`ResourceStore`)."""
        with self._write() as conn:
            self._check(conn, resource_id, resource_type)
            conn.execute("DELETE FROM resources WHERE id = ?", (resource_id,))

    @staticmethod
    def _check(conn: sqlite3.Connection, resource_id: str, resource_type: str) -> None:
        row = conn.execute("SELECT type FROM resources WHERE id = ?", (resource_id,)).fetchone()
        if row is None:
            raise ResourceNotFound(resource_id, resource_type)
        check_type(row[0], resource_id, resource_type)

    def get(self, resource_id: str) -> Resource | None:
        """Return the resource, or ``None`` (see :class:`ResourceStore`)."""
        with self._lock:
            row = (
                self._connection()
                .execute("SELECT id, type, data FROM resources WHERE id = ?", (resource_id,))
                .fetchone()
            )
        return None if row is None else _resource(row)

    def list(self, resource_type: str | None = None) -> list[Resource]:
        """Return the resources in creation order (see :class:`ResourceStore`)."""
        query = "SELECT id, type, data FROM resources"
        params: tuple[str, ...] = ()
        if resource_type is not None:
            query += " WHERE type = ?"
            params = (resource_type,)
        with self._lock:
            rows = self._connection().execute(query + " ORDER BY seq", params).fetchall()
        return [_resource(row) for row in rows]

    def close(self) -> None:
        """Close the database connection; the store cannot be used afterwards."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _to_json(resource_type: str, data: Mapping[str, Any]) -> str:
    try:
        return json.dumps(dict(data), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"SqliteResourceStore keeps resource_data as JSON, and the data of this "
            f"{resource_type!r} resource is not JSON-serializable ({exc}); convert the "
            "values to str/int/float/bool/None/list/dict, or use InMemoryResourceStore"
        ) from exc


def _resource(row: tuple[str, str, str]) -> Resource:
    return Resource(row[0], row[1], MappingProxyType(json.loads(row[2])))


def _problem(path: Path, exc: BaseException) -> str:
    """What is wrong with ``path`` as the database file, and what to do (``exc``: the error)."""
    if path.is_dir():
        return "it is a directory; give the path of a file (one in it, say)"
    existing = next((parent for parent in path.parents if parent.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"{str(existing)!r} is a file, not a directory; fix the path"
    if existing != path.parent:
        return f"its directory {str(path.parent)!r} does not exist; create it, or fix the path"
    if isinstance(exc, PermissionError) or "readonly" in str(exc) or "unable to open" in str(exc):
        return f"{exc}; check that the file and its directory are readable and writable"
    if isinstance(exc, sqlite3.DatabaseError):
        return f"it is not an SQLite database ({exc}); use another path, or move the file away"
    return f"{type(exc).__name__}: {exc}; check the path and the disk"
