"""Choosing the store per bus (install() and LLMGINE_RESOURCES_DB), plugin_status, discovery."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import llmgine_resources
import pytest
from llmgine.messages.bus import MessageBus, message_bus
from llmgine.messages.commands import CreateResourceCommand, UpdateResourceCommand
from llmgine.messages.events import Event, ResourceCreatedEvent
from llmgine.plugins import get_message_catalog, register_handlers, register_plugin
from llmgine_resources import (
    DB_ENV,
    IdempotentCreateResourceCommand,
    InMemoryResourceStore,
    SqliteResourceStore,
)
from llmgine_resources import plugin as resources_plugin


@pytest.fixture(autouse=True)
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(DB_ENV, raising=False)
    message_bus.reset()  # (forgets the plugin's state on the process-wide bus)
    yield
    message_bus.reset()


def test_the_default_store_is_in_memory_and_status_says_how_to_persist() -> None:
    status = resources_plugin.plugin_status()
    assert status.active
    assert "in memory" in status.detail
    assert DB_ENV in status.detail
    bus = MessageBus.isolated()
    assert isinstance(llmgine_resources.get_store(bus), InMemoryResourceStore)
    assert llmgine_resources.get_store(bus) is llmgine_resources.get_store(bus)
    assert llmgine_resources.get_store(bus) is not llmgine_resources.get_store()  # per bus


def test_the_env_var_selects_a_sqlite_file_that_status_names_without_creating_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "from-env.db"
    monkeypatch.setenv(DB_ENV, str(path))
    status = resources_plugin.plugin_status()
    assert status.active
    assert str(path) in status.detail
    assert not path.exists()  # listing plugins opens no database

    bus = MessageBus.isolated()
    register_handlers_of_this_plugin_only(bus)
    store = llmgine_resources.get_store(bus)
    assert isinstance(store, SqliteResourceStore)
    assert store.path == path
    assert path.exists()
    bus.close()  # the plugin opened it, so closing the bus closes it
    with pytest.raises(RuntimeError, match="closed"):
        store.get("res_1")


def register_handlers_of_this_plugin_only(bus: MessageBus) -> None:
    resources_plugin.startup(bus)
    bus.on_close(lambda: resources_plugin.shutdown(bus))


def test_install_with_db_opens_that_file_for_that_bus_only(tmp_path: Path) -> None:
    bus, other = MessageBus.isolated(strict=True), MessageBus.isolated(strict=True)
    llmgine_resources.install(bus, db=tmp_path / "a.db")
    llmgine_resources.install(other, db=str(tmp_path / "b.db"))
    resource_id = bus.dispatch(CreateResourceCommand("example", {"a": 1}))
    assert llmgine_resources.get_resource(resource_id, bus).data == {"a": 1}
    with pytest.raises(llmgine_resources.ResourceNotFound):
        llmgine_resources.get_resource(resource_id, other)
    assert llmgine_resources.state_of(bus).db == str(tmp_path / "a.db")

    bus.close()
    other.close()
    register_handlers(bus)  # started again: the same file is reopened
    assert llmgine_resources.get_resource(resource_id, bus).data == {"a": 1}
    bus.close()


def test_install_with_a_store_makes_it_the_buses_store_and_leaves_it_open(tmp_path: Path) -> None:
    store = SqliteResourceStore(tmp_path / "api.db")
    bus = MessageBus.isolated(strict=True)
    info = llmgine_resources.install(bus, store=store)
    assert info.name == "resources"
    assert llmgine_resources.get_store(bus) is store
    resource_id = bus.dispatch(CreateResourceCommand("example", {"a": 1}))
    assert store.get(resource_id) is not None
    bus.close()
    store.get(resource_id)  # a store passed in stays open: it is the caller's to close
    store.close()


def test_install_is_idempotent_and_register_handlers_keeps_its_settings(tmp_path: Path) -> None:
    store = InMemoryResourceStore()
    bus = MessageBus.isolated(strict=True)
    llmgine_resources.install(bus, store=store)
    llmgine_resources.install(bus, store=store)
    register_handlers(bus)  # registers the other plugins, not this one a second time
    assert llmgine_resources.get_store(bus) is store
    resource_id = bus.dispatch(CreateResourceCommand("example", {"a": 1}))
    assert store.get(resource_id) is not None
    bus.close()


def test_install_after_register_handlers_reconfigures_that_bus_and_closes_the_old_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DB_ENV, str(tmp_path / "env.db"))
    bus = MessageBus.isolated(strict=True)
    register_handlers(bus)
    old = llmgine_resources.get_store(bus)
    assert isinstance(old, SqliteResourceStore)
    llmgine_resources.install(bus, db=tmp_path / "new.db")
    with pytest.raises(RuntimeError, match="closed"):
        old.get("res_1")
    resource_id = bus.dispatch(CreateResourceCommand("example", {"a": 1}))
    assert SqliteResourceStore(tmp_path / "new.db").get(resource_id) is not None
    bus.close()


class _OwnStore:
    """A store of the user's own, implementing only the protocol (no ``as_stored``)."""

    def __init__(self) -> None:
        inner = InMemoryResourceStore()
        self.create, self.update, self.delete = inner.create, inner.update, inner.delete
        self.get, self.list, self.close = inner.get, inner.list, inner.close


def test_with_a_store_of_ones_own_events_carry_a_copy_of_the_commands_data() -> None:
    bus = MessageBus.isolated(strict=True)
    llmgine_resources.install(bus, store=_OwnStore())  # type: ignore[arg-type]
    events: list[Event] = []
    bus.subscribe_event(ResourceCreatedEvent, events.append)
    data = {"tags": ["a"]}

    bus.dispatch(CreateResourceCommand("example", data))
    data["tags"].append("b")
    assert [e.resource_data for e in events] == [{"tags": ["a"]}]  # type: ignore[attr-defined]


def test_install_refuses_bad_settings_naming_the_setting(tmp_path: Path) -> None:
    bus = MessageBus.isolated()
    with pytest.raises(TypeError, match=r"install\(store=\.\.\.\) needs a ResourceStore"):
        llmgine_resources.install(bus, store={"not": "a store"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"install\(db=\.\.\.\) needs a file path"):
        llmgine_resources.install(bus, db=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="db= or store=, not both"):
        llmgine_resources.install(bus, db=tmp_path / "x.db", store=InMemoryResourceStore())


def test_configure_is_a_deprecated_alias_configuring_message_bus() -> None:
    store = InMemoryResourceStore()
    with pytest.warns(DeprecationWarning, match=r"install\(bus, store=store\)"):
        llmgine_resources.configure(store)
    assert llmgine_resources.get_store() is store
    resource_id = message_bus.dispatch(CreateResourceCommand("example", {"a": 1}))
    assert store.get(resource_id) is not None
    with (
        pytest.warns(DeprecationWarning, match="deprecated"),
        pytest.raises(TypeError, match="ResourceStore"),
    ):
        llmgine_resources.configure({"not": "a store"})  # type: ignore[arg-type]
    with pytest.warns(DeprecationWarning, match="deprecated"):
        llmgine_resources.configure(None)  # back to the environment: a new in-memory store
    assert llmgine_resources.get_store() is not store


def test_the_plugins_own_command_may_cross_a_transport() -> None:
    catalog = get_message_catalog()
    register_handlers(MessageBus.isolated())
    name = catalog.name_of(IdempotentCreateResourceCommand)
    assert name == "llmgine_resources.IdempotentCreateResourceCommand"
    assert catalog.class_of(name) is IdempotentCreateResourceCommand


@pytest.mark.usefixtures("llmgine_plugin_host")
def test_register_handlers_wires_the_plugin_onto_a_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "")  # only the plugin registered below
    register_plugin(resources_plugin, "resources-under-test")
    bus = MessageBus.isolated(strict=True)
    register_handlers(bus)
    register_handlers(bus)  # idempotent
    sources = {t: source for t, (_, source) in bus.command_handlers().items()}
    assert sources[CreateResourceCommand] == "plugin 'resources-under-test'"
    resource_id = bus.dispatch(CreateResourceCommand("example", {"a": 1}))
    bus.dispatch(UpdateResourceCommand(resource_id, "example", {"a": 2}))
    assert dict(llmgine_resources.get_resource(resource_id, bus).data) == {"a": 2}


def test_the_installed_entry_point_is_discoverable() -> None:
    found = {ep.name: ep for ep in entry_points(group="llmgine.plugins")}
    assert "resources" in found
    assert found["resources"].value == "llmgine_resources.plugin"
    assert found["resources"].dist is not None
    assert found["resources"].dist.metadata["Name"] == "llmgine-resources"
    assert found["resources"].load() is resources_plugin


@pytest.mark.usefixtures("llmgine_plugin_host")
def test_install_before_the_first_discovery_is_not_a_name_clash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # install() registers the plugin module itself; discovery then finds the same
    # module under the same entry-point name and takes it as that plugin, not a clash
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "resources")
    bus = MessageBus.isolated(strict=True)
    store = InMemoryResourceStore()
    llmgine_resources.install(bus, store=store)
    infos = {info.name: info for info in register_handlers(bus)}
    assert infos["resources"].error is None
    assert infos["resources"].distribution == "llmgine-resources"
    assert llmgine_resources.get_store(bus) is store
    assert bus.dispatch(CreateResourceCommand("example", {})).startswith("res_")
