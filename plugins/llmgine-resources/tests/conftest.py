"""Fixtures for the llmgine-resources tests: a fresh store per test and an isolated bus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import llmgine_resources
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.events import Event
from llmgine_resources import InMemoryResourceStore, ResourceStore, SqliteResourceStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResourceStore]:
    """Each store implementation in turn (the ``bus`` fixture installs the plugin with it)."""
    made: ResourceStore = (
        InMemoryResourceStore()
        if request.param == "memory"
        else SqliteResourceStore(tmp_path / "resources.db")
    )
    yield made
    made.close()


@pytest.fixture
def bus(store: ResourceStore) -> MessageBus:
    """A strict isolated bus with the plugin installed on it, keeping resources in ``store``."""
    bus = MessageBus.isolated(strict=True)
    llmgine_resources.install(bus, store=store)
    return bus


@pytest.fixture
def events(bus: MessageBus) -> list[Event]:
    """Every event published on ``bus``, in order."""
    seen: list[Event] = []
    bus.subscribe_event("*", seen.append)
    return seen
