"""The plugin's state on one bus: which store it uses (``install()`` or ``LLMGINE_RESOURCES_DB``,
and ``LLMGINE_RESOURCES_FILE_MODE``).

Each bus has its own :class:`ResourcesState`, kept in a :class:`~llmgine.plugins.BusState`,
so two buses in one process can keep their resources in different stores.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from llmgine.messages.bus import MessageBus, message_bus
from llmgine.plugins import BusState, install_plugin
from llmgine.plugins.files import DEFAULT_FILE_MODE, file_mode_setting

from ._sqlite import SqliteResourceStore
from ._store import InMemoryResourceStore, Resource, ResourceStore
from .errors import ResourceNotFound

if TYPE_CHECKING:
    from llmgine.plugins import PluginInfo

__all__ = [
    "DB_ENV",
    "FILE_MODE_ENV",
    "ResourcesState",
    "find_state",
    "get_resource",
    "get_store",
    "install",
    "state_of",
]

#: Path of a SQLite file to keep resources in; unset or empty: in memory.
DB_ENV = "LLMGINE_RESOURCES_DB"

#: Mode of a SQLite file the plugin creates (octal, e.g. 0640); unset: 0600.
FILE_MODE_ENV = "LLMGINE_RESOURCES_FILE_MODE"

_ORIGIN = "llmgine_resources.install()"

#: The entry-point name the plugin is registered under.
PLUGIN_NAME = "resources"


class ResourcesState:
    """What the plugin uses on one bus: a store given to ``install``, or one it opens itself.

    ``db`` is the SQLite file of a store the plugin opens (``None``: in memory), created
    with mode ``file_mode`` if missing. A store it opened is closed when the bus closes
    (and reopened on next use); a store given to ``install`` stays the caller's to close.
    """

    def __init__(
        self,
        *,
        db: str | None = None,
        store: ResourceStore | None = None,
        file_mode: int = DEFAULT_FILE_MODE,
    ) -> None:
        self.db = db
        self.file_mode = file_mode
        self._lock = threading.Lock()
        self._store = store
        #: whether the store is the caller's (never closed here)
        self.given = store is not None

    @classmethod
    def from_env(cls, file_mode: object = None) -> ResourcesState:
        """The state ``LLMGINE_RESOURCES_DB`` describes (a state made without ``install``).

        ``file_mode`` (``install``'s) or else ``LLMGINE_RESOURCES_FILE_MODE`` is the mode
        the file is created with; a bad value raises, naming where it came from.
        """
        mode = file_mode_setting(file_mode, FILE_MODE_ENV, _ORIGIN)
        return cls(db=os.environ.get(DB_ENV) or None, file_mode=mode)

    @classmethod
    def configured(cls, db: object, store: object, file_mode: object = None) -> ResourcesState:
        """The state ``install(bus, db=db, store=store, file_mode=file_mode)`` asks for;
        errors name the setting."""
        if store is not None and file_mode is not None:
            raise ValueError(
                f"{_ORIGIN}: setting file_mode is for the SQLite file the plugin creates "
                "(db=), not for a store of yours: pass SqliteResourceStore(path, "
                "file_mode=...) as store"
            )
        match (db, store):
            case (None, None):
                return cls.from_env(file_mode)
            case (None, ResourceStore() as given):
                return cls(store=given)
            case (str() | os.PathLike() as path, None):
                mode = file_mode_setting(file_mode, FILE_MODE_ENV, _ORIGIN)
                return cls(db=os.fspath(path), file_mode=mode)
            case (None, _):
                raise TypeError(
                    f"llmgine_resources.install(store=...) needs a ResourceStore "
                    f"(create/update/delete/get/list/close), got {store!r}"
                )
            case (_, None):
                raise TypeError(f"llmgine_resources.install(db=...) needs a file path, got {db!r}")
        raise ValueError(
            "llmgine_resources.install() takes db= or store=, not both: pass "
            "store=SqliteResourceStore(db) to use a store of your own at that path"
        )

    @property
    def store(self) -> ResourceStore:
        """The store in use, opened on first use."""
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is None:
                self._store = (
                    SqliteResourceStore(self.db, file_mode=self.file_mode)
                    if self.db
                    else InMemoryResourceStore()
                )
            return self._store

    def close(self) -> None:
        """Close a SQLite store the plugin opened (the next use opens it again)."""
        with self._lock:
            store = self._store
            if self.given or not isinstance(store, SqliteResourceStore):
                return  # the caller's, or in memory: closing it would lose the data
            self._store = None
        store.close()

    def describe(self) -> tuple[str, bool]:
        """``(where the resources are kept, persistent)``, without opening a database."""
        store = self._store
        if isinstance(store, SqliteResourceStore):
            return f"SQLite file {os.path.abspath(store.path)}", True
        if store is None and self.db:
            return f"SQLite file {os.path.abspath(self.db)}", True
        if store is None or isinstance(store, InMemoryResourceStore):
            return "in memory (lost at exit)", False
        return f"custom store {store!r}", True


_STATE: BusState[ResourcesState] = BusState("llmgine-resources")


def state_of(bus: MessageBus = message_bus) -> ResourcesState:
    """The plugin's state on ``bus``; made from the environment if ``install`` gave none."""
    return _STATE.setdefault(bus, ResourcesState.from_env)


def find_state(bus: MessageBus) -> ResourcesState | None:
    """The plugin's state on ``bus``, or ``None`` if none was made there yet."""
    return _STATE.get(bus)


def install(
    bus: MessageBus,
    *,
    db: str | os.PathLike[str] | None = None,
    store: ResourceStore | None = None,
    file_mode: int | str | None = None,
) -> PluginInfo:
    """Handle the resource commands on ``bus``, keeping resources in ``store`` or ``db``.

    ``db`` (like ``LLMGINE_RESOURCES_DB``) is a SQLite file the plugin opens, created
    if missing with mode ``file_mode`` (like ``LLMGINE_RESOURCES_FILE_MODE``: an octal
    string such as ``"0640"``, or an int; default 0600; an existing file keeps its
    mode); ``store`` any :class:`ResourceStore` of yours (it stays yours to close).
    Neither: what ``LLMGINE_RESOURCES_DB`` says, else in memory. Called again (or after
    ``register_handlers(bus)``), it reconfigures ``bus``: a SQLite store the plugin
    opened there is closed, and the next command uses the new one. Other buses are
    unaffected. Returns the plugin's :class:`~llmgine.plugins.PluginInfo`.
    """
    state = ResourcesState.configured(db, store, file_mode)
    old = _STATE.pop(bus)
    _STATE.set(bus, state)
    if old is not None:
        old.close()
    from . import plugin  # (the plugin module imports this one)

    return install_plugin(bus, PLUGIN_NAME, plugin)


def get_store(bus: MessageBus = message_bus) -> ResourceStore:
    """Return the store the plugin uses on ``bus``, opening it on first use."""
    return state_of(bus).store


def get_resource(resource_id: str, bus: MessageBus = message_bus) -> Resource:
    """Return the resource ``resource_id`` of ``bus``'s store; raises :class:`ResourceNotFound`."""
    found = get_store(bus).get(resource_id)
    if found is None:
        raise ResourceNotFound(resource_id)
    return found
