"""Which store the plugin uses: set with ``configure()`` or ``LLMGINE_RESOURCES_DB``."""

from __future__ import annotations

import os
import threading

from ._errors import ResourceNotFound
from ._sqlite import SqliteResourceStore
from ._store import InMemoryResourceStore, Resource, ResourceStore

__all__ = ["DB_ENV", "configure", "get_resource", "get_store", "store_description"]

#: Path of a SQLite file to keep resources in; unset or empty: in memory.
DB_ENV = "LLMGINE_RESOURCES_DB"

_lock = threading.Lock()
_store: ResourceStore | None = None
#: whether _store was made here (from the environment), so we close it when replaced
_owned = False


def configure(store: ResourceStore | None) -> None:
    """Make ``store`` the store the plugin's handlers use in this process.

    ``None`` forgets the configured store: the next command gets a fresh one from
    ``LLMGINE_RESOURCES_DB`` (a :class:`SqliteResourceStore` at that path) or, if it
    is unset, a new :class:`InMemoryResourceStore`. A store you pass in stays yours
    to close; one the plugin made from the environment is closed when replaced.
    """
    global _store, _owned
    if store is not None and not isinstance(store, ResourceStore):
        raise TypeError(
            f"configure() needs a ResourceStore (create/update/delete/get/list/close), "
            f"got {store!r}"
        )
    with _lock:
        old, was_owned = _store, _owned
        _store, _owned = store, False
    if old is not None and was_owned:
        old.close()


def get_store() -> ResourceStore:
    """Return the store in use, creating the default one on first use."""
    global _store, _owned
    store = _store
    if store is not None:
        return store
    with _lock:
        if _store is None:
            path = os.environ.get(DB_ENV)
            _store = SqliteResourceStore(path) if path else InMemoryResourceStore()
            _owned = True
        return _store


def get_resource(resource_id: str) -> Resource:
    """Return the resource ``resource_id``; raises :class:`ResourceNotFound` if there is none."""
    found = get_store().get(resource_id)
    if found is None:
        raise ResourceNotFound(resource_id)
    return found


def store_description() -> tuple[str, bool]:
    """Describe the store in use (or the one the environment will give) without opening it.

    Returns ``(text, persistent)``.
    """
    store = _store
    if store is None:
        path = os.environ.get(DB_ENV)
        if path:
            return f"SQLite file {os.path.abspath(path)} (from {DB_ENV})", True
        return "in memory (lost at exit)", False
    if isinstance(store, SqliteResourceStore):
        return f"SQLite file {os.path.abspath(store.path)}", True
    if isinstance(store, InMemoryResourceStore):
        return "in memory (lost at exit)", False
    return f"custom store {store!r}", True
