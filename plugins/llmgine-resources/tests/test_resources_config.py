"""Choosing the store (configure() and LLMGINE_RESOURCES_DB), plugin_status, discovery."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import llmgine_resources
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import CreateResourceCommand, UpdateResourceCommand
from llmgine.messages.events import Event, ResourceCreatedEvent
from llmgine.plugins import _manager, register_handlers, register_plugin
from llmgine_resources import DB_ENV, InMemoryResourceStore, SqliteResourceStore
from llmgine_resources import plugin as resources_plugin


@pytest.fixture(autouse=True)
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(DB_ENV, raising=False)
    llmgine_resources.configure(None)
    yield
    llmgine_resources.configure(None)


def test_the_default_store_is_in_memory_and_status_says_how_to_persist() -> None:
    status = resources_plugin.plugin_status()
    assert status.active
    assert "in memory" in status.detail
    assert DB_ENV in status.detail
    assert isinstance(llmgine_resources.get_store(), InMemoryResourceStore)
    assert llmgine_resources.get_store() is llmgine_resources.get_store()


def test_the_env_var_selects_a_sqlite_file_that_status_names_without_creating_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "from-env.db"
    monkeypatch.setenv(DB_ENV, str(path))
    status = resources_plugin.plugin_status()
    assert status.active
    assert str(path) in status.detail
    assert not path.exists()  # listing plugins opens no database

    store = llmgine_resources.get_store()
    assert isinstance(store, SqliteResourceStore)
    assert store.path == path
    assert path.exists()
    llmgine_resources.configure(None)  # the plugin made it, so the plugin closes it
    with pytest.raises(RuntimeError, match="closed"):
        store.get("res_1")


def test_configure_installs_a_store_the_handlers_use(tmp_path: Path) -> None:
    store = SqliteResourceStore(tmp_path / "api.db")
    llmgine_resources.configure(store)
    assert llmgine_resources.get_store() is store
    assert str(tmp_path / "api.db") in resources_plugin.plugin_status().detail

    bus = MessageBus.isolated(strict=True)
    resources_plugin.register_commands(register=bus.register_command)
    resource_id = bus.dispatch(CreateResourceCommand("example", {"a": 1}))
    assert store.get(resource_id) is not None
    llmgine_resources.configure(None)
    store.get(resource_id)  # a store passed in stays open: it is the caller's to close
    store.close()


class _OwnStore:
    """A store of the user's own, implementing only the protocol (no ``as_stored``)."""

    def __init__(self) -> None:
        inner = InMemoryResourceStore()
        self.create, self.update, self.delete = inner.create, inner.update, inner.delete
        self.get, self.list, self.close = inner.get, inner.list, inner.close


def test_with_a_store_of_ones_own_events_carry_a_copy_of_the_commands_data() -> None:
    llmgine_resources.configure(_OwnStore())  # type: ignore[arg-type]
    bus = MessageBus.isolated(strict=True)
    resources_plugin.register_commands(register=bus.register_command)
    events: list[Event] = []
    bus.subscribe_event(ResourceCreatedEvent, events.append)
    data = {"tags": ["a"]}

    bus.dispatch(CreateResourceCommand("example", data))
    data["tags"].append("b")
    assert [e.resource_data for e in events] == [{"tags": ["a"]}]  # type: ignore[attr-defined]


def test_configure_refuses_something_that_is_not_a_store() -> None:
    with pytest.raises(TypeError, match="configure\\(\\) needs a ResourceStore"):
        llmgine_resources.configure({"not": "a store"})  # type: ignore[arg-type]


def test_register_handlers_wires_the_plugin_onto_a_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "")  # only the plugin registered below
    _manager._reset_for_tests()
    try:
        register_plugin(resources_plugin, "resources-under-test")
        bus = MessageBus.isolated(strict=True)
        register_handlers(bus)
        register_handlers(bus)  # idempotent
        sources = {t: source for t, (_, source) in bus.command_handlers().items()}
        assert sources[CreateResourceCommand] == "plugin 'resources-under-test'"
        resource_id = bus.dispatch(CreateResourceCommand("example", {"a": 1}))
        bus.dispatch(UpdateResourceCommand(resource_id, "example", {"a": 2}))
        assert dict(llmgine_resources.get_resource(resource_id).data) == {"a": 2}
    finally:
        _manager._reset_for_tests()


def test_the_installed_entry_point_is_discoverable() -> None:
    found = {ep.name: ep for ep in entry_points(group="llmgine.plugins")}
    assert "resources" in found
    assert found["resources"].value == "llmgine_resources.plugin"
    assert found["resources"].dist is not None
    assert found["resources"].dist.metadata["Name"] == "llmgine-resources"
    assert found["resources"].load() is resources_plugin
