"""Fixtures for the llmgine-workflows tests: a fresh bus with an engine, fresh plugins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llmgine.messages.bus import MessageBus
from llmgine.plugins import PluginHost, use_plugin_host
from llmgine_workflows import WorkflowEngine, _registry, install
from wf_helpers import Act, Recorder, Undo


@pytest.fixture
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh plugin manager that loads only the installed workflows plugin."""
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "workflows")
    monkeypatch.delenv("LLMGINE_WORKFLOWS_DB", raising=False)
    with use_plugin_host(PluginHost()):
        _registry.ensure_hookspec()
        yield


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def bus(recorder: Recorder) -> Iterator[MessageBus]:
    """An isolated strict bus with Act/Undo handlers and every event recorded."""
    bus = MessageBus.isolated(strict=True)
    bus.register_command(Act, recorder.act)
    bus.register_command(Undo, recorder.undo)
    bus.subscribe_event("*", recorder.events.append)
    yield bus
    bus.close()


@pytest.fixture
def engine(bus: MessageBus) -> WorkflowEngine:
    return install(bus)
