"""Idle until configured; the env var and install(); the lifecycle hooks; discovery."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import llmgine_audit
import pytest
from llmgine.messages.bus import MessageBus, message_bus
from llmgine.messages.events import Event, SystemEvent
from llmgine.plugins import (
    PluginHost,
    PluginStatus,
    register_handlers,
    register_plugin,
    use_plugin_host,
)
from llmgine_audit import LOG_ENV, AuditLog
from llmgine_audit import plugin as audit_plugin


def event(message: str = "x") -> SystemEvent:
    return SystemEvent(component="app", severity="info", message=message)


def messages(path: Path) -> list[str]:
    return [json.loads(line)["data"]["message"] for line in path.read_text().splitlines()]


def test_unconfigured_it_is_idle_subscribes_nothing_and_says_how_to_activate(
    plain_bus: MessageBus,
) -> None:
    bus = plain_bus
    audit_plugin.register_subscribers(subscribe=bus.subscribe_event, bus=bus)
    assert bus.subscriptions == ()
    assert audit_plugin.plugin_status() == PluginStatus(
        active=False,
        activate="set LLMGINE_AUDIT_LOG=/path/to/audit.jsonl, or call "
        "llmgine_audit.install(bus, log=path)",
    )
    assert llmgine_audit.get_audit_log(bus) is None
    audit_plugin.startup(bus)  # lifecycle hooks are harmless when idle
    audit_plugin.shutdown(bus)


def test_the_env_var_activates_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plain_bus: MessageBus
) -> None:
    path = tmp_path / "env.jsonl"
    monkeypatch.setenv(LOG_ENV, str(path))
    assert audit_plugin.plugin_status() == PluginStatus(
        active=True, detail=f"appending every event to {path}"
    )
    assert not path.exists()  # status touches no file
    bus = plain_bus
    audit_plugin.register_subscribers(subscribe=bus.subscribe_event, bus=bus)
    assert [s.key for s in bus.subscriptions] == ["*"]
    bus.emit(event("from env"))
    assert messages(path) == ["from env"]


def test_install_again_moves_the_log_to_another_file(
    bus: MessageBus, audit_log: AuditLog, log_path: Path
) -> None:
    bus.emit(event("first"))
    llmgine_audit.install(bus, log=log_path)  # the same path: the same log, still open
    assert llmgine_audit.get_audit_log(bus) is audit_log
    moved = log_path.with_name("moved.jsonl")
    llmgine_audit.install(bus, log=moved)
    assert audit_log._fd is None  # the old file was closed
    bus.emit(event("second"))
    assert messages(log_path) == ["first"]
    assert messages(moved) == ["second"]
    assert [s.key for s in bus.subscriptions] == ["*"]  # subscribed once only


def test_startup_opens_the_file_and_shutdown_closes_it(
    bus: MessageBus, audit_log: AuditLog, log_path: Path
) -> None:
    assert log_path.exists()  # install() started it
    audit_plugin.shutdown(bus)
    assert audit_log._fd is None
    bus.emit(event("after shutdown"))  # a later event reopens and appends
    assert messages(log_path) == ["after shutdown"]


def test_startup_reports_a_bad_path_once_before_any_event(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, plain_bus: MessageBus
) -> None:
    bus = plain_bus
    reports: list[Event] = []
    bus.subscribe_event("system.audit.*", reports.append)
    with caplog.at_level(logging.ERROR, logger="llmgine.audit"):
        llmgine_audit.install(bus, log=tmp_path / "missing" / "audit.jsonl")
        bus.emit(event("dropped"))
    log = llmgine_audit.get_audit_log(bus)
    assert log is not None
    assert (log.failing, log.dropped) == (True, 2)  # the report itself, and the event
    assert [r.name for r in caplog.records] == ["llmgine.audit"]
    assert "missing" in caplog.records[0].getMessage()
    assert [e.event_type for e in reports] == ["system.audit.error"]


def test_plugin_status_shows_message_bus_log_and_its_dropped_events(tmp_path: Path) -> None:
    llmgine_audit.install(message_bus, log=tmp_path / "missing" / "audit.jsonl")
    status = audit_plugin.plugin_status()
    assert status.active
    assert "missing" in status.detail
    assert "1 event(s) dropped" in status.detail  # the startup report


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only the plugin under test loads (under its own name); forgotten afterwards."""
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "")
    with use_plugin_host(PluginHost()):
        register_plugin(audit_plugin, "audit")
        yield


@pytest.mark.usefixtures("loaded")
def test_register_handlers_runs_the_hooks_and_closing_the_bus_closes_the_file(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOG_ENV, str(log_path))
    bus = MessageBus.isolated(strict=True)
    register_handlers(bus)
    audit_log = llmgine_audit.get_audit_log(bus)
    assert audit_log is not None
    assert audit_log._fd is not None  # startup opened it
    bus.emit(event("via register_handlers"))
    bus.close()
    assert audit_log._fd is None
    assert messages(log_path) == ["via register_handlers"]


@pytest.mark.usefixtures("loaded")
def test_install_after_register_handlers_attaches_the_log_to_that_bus_only(
    log_path: Path,
) -> None:
    bus = MessageBus.isolated(strict=True)
    other = MessageBus.isolated(strict=True)
    register_handlers(bus)
    register_handlers(other)
    assert bus.subscriptions == ()  # idle: subscribes nothing
    llmgine_audit.install(bus, log=log_path)
    register_handlers(bus)  # keeps what install() said
    bus.emit(event("after install"))
    other.emit(event("elsewhere"))
    assert messages(log_path) == ["after install"]
    assert [s.key for s in bus.subscriptions] == ["*"]
    assert other.subscriptions == ()


@pytest.mark.usefixtures("loaded")
def test_install_before_register_handlers_is_kept_over_the_env_var(
    tmp_path: Path, log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOG_ENV, str(tmp_path / "env.jsonl"))
    bus = MessageBus.isolated(strict=True)
    llmgine_audit.install(bus, log=log_path)
    llmgine_audit.install(bus, log=log_path)  # idempotent
    register_handlers(bus)
    bus.emit(event("installed"))
    assert messages(log_path) == ["installed"]
    assert [s.key for s in bus.subscriptions] == ["*"]
    assert not (tmp_path / "env.jsonl").exists()


@pytest.mark.usefixtures("loaded")
def test_a_bus_that_was_reset_forgets_what_install_said(
    log_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = MessageBus.isolated(strict=True)
    llmgine_audit.install(bus, log=log_path)
    bus.reset()  # forgets its plugins and their state
    assert bus.subscriptions == ()
    monkeypatch.setenv(LOG_ENV, str(tmp_path / "env.jsonl"))
    register_handlers(bus)  # registers it again, from the environment: one subscriber
    bus.emit(event("registered again"))
    assert messages(tmp_path / "env.jsonl") == ["registered again"]


def test_install_refuses_a_log_that_is_not_a_path(plain_bus: MessageBus) -> None:
    with pytest.raises(TypeError, match=r"install\(log=\.\.\.\) needs a file path"):
        llmgine_audit.install(plain_bus, log=3)  # type: ignore[arg-type]


def test_configure_is_a_deprecated_alias_configuring_message_bus(log_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match=r"llmgine_audit.install\(bus, log=path\)"):
        llmgine_audit.configure(path=log_path)
    message_bus.emit(event("on message_bus"))
    assert messages(log_path) == ["on message_bus"]
    with pytest.warns(DeprecationWarning, match="deprecated"):
        llmgine_audit.configure(None)  # back to the environment: idle
    assert llmgine_audit.get_audit_log() is None


def test_configured_between_registration_and_startup_it_subscribes_at_startup(
    log_path: Path, plain_bus: MessageBus
) -> None:
    bus = plain_bus
    audit_plugin.register_subscribers(subscribe=bus.subscribe_event, bus=bus)  # idle: nothing
    llmgine_audit.state_of(bus).log = AuditLog(log_path)  # as install() would, unstarted
    assert bus.subscriptions == ()
    audit_plugin.startup(bus)
    audit_plugin.startup(bus)  # as after a close and a restart: still one subscriber
    bus.emit(event("after startup"))
    assert messages(log_path) == ["after startup"]


def test_the_installed_entry_point_is_discoverable() -> None:
    found = {ep.name: ep for ep in entry_points(group="llmgine.plugins")}
    assert "audit" in found
    assert found["audit"].value == "llmgine_audit.plugin"
    assert found["audit"].dist is not None
    assert found["audit"].dist.metadata["Name"] == "llmgine-audit"
    assert found["audit"].load() is audit_plugin


@pytest.mark.usefixtures("loaded")
def test_a_bad_path_at_startup_with_an_async_subscriber_does_not_stop_the_application(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # emit() refuses events with async subscribers: startup's report raised, and the
    # plugin failed to load (PluginLoadError from register_handlers)
    bus = MessageBus.isolated(strict=True)
    reports: list[str] = []

    async def alert(event: Event) -> None:
        reports.append(event.event_type)

    bus.subscribe_event("system.**", alert)
    with caplog.at_level(logging.ERROR, logger="llmgine.audit"):
        llmgine_audit.install(bus, log=tmp_path / "missing" / "audit.jsonl")
    assert "missing" in caplog.records[0].getMessage()

    asyncio.run(bus.emit_async(event("dropped")))  # the report goes out with the next event
    asyncio.run(bus.emit_async(event("dropped too")))

    assert reports == ["system.app.info", "system.audit.error", "system.app.info"]
    log = llmgine_audit.get_audit_log(bus)
    assert log is not None
    assert (log.failing, log.dropped) == (True, 3)


def test_after_a_rotation_closing_the_log_makes_the_next_event_open_the_new_file(
    bus: MessageBus, audit_log: AuditLog, log_path: Path
) -> None:
    bus.emit(event("before"))
    rotated = log_path.with_name("audit.jsonl.1")
    log_path.rename(rotated)
    bus.emit(event("still into the open file"))
    audit_log.close()  # what the README says to do after renaming it
    bus.emit(event("after"))
    assert messages(rotated) == ["before", "still into the open file"]
    assert messages(log_path) == ["after"]


def test_a_log_forgotten_with_its_bus_releases_its_file(log_path: Path) -> None:
    import gc
    import os

    bus = MessageBus.isolated(strict=True)
    llmgine_audit.install(bus, log=log_path)
    log = llmgine_audit.get_audit_log(bus)
    assert log is not None
    fd = log._fd
    assert fd is not None
    del log
    bus.reset()  # forgets the plugin's state unclosed (as a dropped bus would)
    gc.collect()
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)
