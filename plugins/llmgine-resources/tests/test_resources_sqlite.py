"""SqliteResourceStore: survives a restart, is thread-safe, refuses data JSON cannot hold."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from llmgine_resources import (
    IdempotencyConflict,
    ResourceNotFound,
    ResourceStore,
    SqliteResourceStore,
)


def test_resources_and_idempotency_keys_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "resources.db"
    before = SqliteResourceStore(path)
    kept = before.create("example", {"name": "kept", "n": [1, 2]}).resource_id
    gone = before.create("example", {"name": "gone"}).resource_id
    keyed = before.create("order", {"total": 3}, idempotency_key="k").resource_id
    before.update(kept, "example", {"name": "kept, updated"})
    before.delete(gone, "example")
    before.close()

    after = SqliteResourceStore(path)
    resource = after.get(kept)
    assert resource is not None
    assert (resource.resource_type, dict(resource.data)) == ("example", {"name": "kept, updated"})
    assert after.get(gone) is None
    assert after.create("order", {"total": 3}, idempotency_key="k") == (keyed, False)
    assert [r.resource_id for r in after.list()] == [kept, keyed]
    with pytest.raises(ResourceNotFound, match=gone):
        after.delete(gone, "example")
    after.close()


def test_data_json_cannot_hold_is_refused_naming_the_type_and_nothing_is_stored(
    tmp_path: Path,
) -> None:
    store = SqliteResourceStore(tmp_path / "r.db")
    with pytest.raises(TypeError, match="'example' resource is not JSON-serializable"):
        store.create("example", {"when": object()})
    with pytest.raises(TypeError, match="not JSON-serializable"):
        store.create("example", {"nan": float("nan")})
    assert store.list() == []
    store.close()


def test_a_database_that_cannot_be_opened_is_an_oserror_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "r.db"
    with pytest.raises(OSError, match="no-such-dir") as info:
        SqliteResourceStore(missing)
    assert "LLMGINE_RESOURCES_DB" in str(info.value)


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = SqliteResourceStore(tmp_path / "r.db")
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="is closed"):
        store.get("res_1")


def _run_threads(count: int, work: Callable[[int], None]) -> None:
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        start.wait()
        try:
            work(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.parametrize("shared", [True, False], ids=["one-store", "store-per-thread"])
def test_concurrent_creates_and_one_idempotency_key_from_many_threads(
    tmp_path: Path, shared: bool
) -> None:
    path = tmp_path / "r.db"
    stores = (
        [SqliteResourceStore(path)] * 8 if shared else [SqliteResourceStore(path) for _ in range(8)]
    )
    ids: list[str] = []
    keyed: list[tuple[str, bool]] = []

    def work(index: int) -> None:
        store: ResourceStore = stores[index]
        for n in range(25):
            ids.append(store.create("t", {"thread": index, "n": n}).resource_id)
        result = store.create("order", {"total": 1}, idempotency_key="once")
        keyed.append((result.resource_id, result.created))

    _run_threads(8, work)
    assert len(set(ids)) == 200
    assert len(stores[0].list("t")) == 200
    assert len({rid for rid, _ in keyed}) == 1
    assert sorted(created for _, created in keyed) == [False] * 7 + [True]
    with pytest.raises(IdempotencyConflict):
        stores[0].create("order", {"total": 2}, idempotency_key="once")
    for store in set(stores):
        store.close()


@pytest.mark.parametrize(("durable", "synchronous"), [(False, 1), (True, 2)])
def test_the_database_uses_wal_and_durable_syncs_every_commit(
    tmp_path: Path, durable: bool, synchronous: int
) -> None:
    path = tmp_path / "r.db"
    store = SqliteResourceStore(path, durable=durable)
    assert store._connection().execute("PRAGMA synchronous").fetchone() == (
        synchronous,
    )  # 1 NORMAL, 2 FULL
    store.close()
    other = sqlite3.connect(path)
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    other.close()


class _CommitFailsOnce:
    """A connection whose next COMMIT fails, leaving the transaction open (as SQLite may)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.in_transaction_after_failure = False

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT" and not self.in_transaction_after_failure:
            self.in_transaction_after_failure = True
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def close(self) -> None:
        self._conn.close()


def test_a_failed_commit_is_rolled_back_and_the_store_keeps_working(tmp_path: Path) -> None:
    # the open transaction was left behind: every later write failed with "cannot start a
    # transaction within a transaction", and reads saw the uncommitted resource
    store = SqliteResourceStore(tmp_path / "r.db")
    store._conn = _CommitFailsOnce(store._conn)  # type: ignore[assignment]
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        store.create("t", {"n": 1})
    assert store.list() == []
    resource_id = store.create("t", {"n": 2}).resource_id
    assert [r.resource_id for r in store.list()] == [resource_id]
    store.close()
