"""A plugin whose ``startup`` hook fails contributes nothing to the bus.

Uses plugin objects added with register_plugin() on real isolated buses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import llmgine
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event
from llmgine.plugins import PluginLoadError, register_handlers, register_plugin

pytestmark = pytest.mark.usefixtures("no_installed_plugins")


@dataclass
class Ping(Command[str]):
    pass


@dataclass
class Pong(Command[str]):
    pass


class Contributor:
    """Registers a command, a subscriber and both middleware; its startup may fail."""

    def __init__(self, name: str, command: type[Command[str]], log: list[str]) -> None:
        self.name = name
        self.command = command
        self.log = log
        self.fail_startup = False

    @llmgine.hookimpl
    def register_commands(self, register: Callable[..., None]) -> None:
        register(self.command, lambda c: f"{self.name} handled")

    @llmgine.hookimpl
    def register_subscribers(self, subscribe: Callable[..., None]) -> None:
        subscribe("*", lambda e: self.log.append(f"{self.name} saw {e.event_type}"))

    @llmgine.hookimpl
    def register_middleware(
        self,
        add_command_middleware: Callable[[Any], None],
        add_event_middleware: Callable[[Any], None],
    ) -> None:
        def on_command(command: Any, call_next: Callable[[Any], Any]) -> Any:
            self.log.append(f"{self.name} wrapped {type(command).__name__}")
            return call_next(command)

        def on_event(event: Any, call_next: Callable[[Any], Any]) -> Any:
            self.log.append(f"{self.name} wrapped {event.event_type}")
            return call_next(event)

        add_command_middleware(on_command)
        add_event_middleware(on_event)

    @llmgine.hookimpl
    def startup(self, bus: MessageBus) -> None:
        if self.fail_startup:
            raise RuntimeError(f"{self.name} cannot start")


def two_plugins() -> tuple[Contributor, Contributor, list[str]]:
    log: list[str] = []
    broken = Contributor("broken", Ping, log)
    broken.fail_startup = True
    working = Contributor("working", Pong, log)
    register_plugin(broken, "broken")
    register_plugin(working, "working")
    return broken, working, log


def assert_only_working_is_registered(bus: MessageBus, log: list[str]) -> None:
    assert set(bus.command_handlers()) == {Pong}
    assert [source for _, source in bus.command_handlers().values()] == ["plugin 'working'"]
    assert len(bus.subscriptions) == 1
    log.clear()
    assert bus.dispatch(Pong()) == "working handled"
    bus.emit(Event())
    assert log == ["working wrapped Pong", "working wrapped event", "working saw event"]


def test_lenient_failed_startup_removes_its_registrations_and_keeps_the_others() -> None:
    _broken, _working, log = two_plugins()
    bus = MessageBus.isolated()
    with pytest.warns(RuntimeWarning, match="'broken' failed in its startup hook"):
        infos = register_handlers(bus, lenient=True)
    assert {i.name: i.error for i in infos}["broken"] is not None
    assert "broken cannot start" in str({i.name: i.error for i in infos}["broken"])
    assert_only_working_is_registered(bus, log)


def test_strict_failed_startup_raises_and_removes_its_registrations() -> None:
    _broken, _working, log = two_plugins()
    bus = MessageBus.isolated()
    with pytest.raises(PluginLoadError, match="'broken' failed in its startup hook"):
        register_handlers(bus)
    # 'working' was registered before the failure and is started by the next call.
    assert_only_working_is_registered(bus, log)


@pytest.mark.parametrize("lenient", [True, False])
def test_after_a_failed_startup_the_next_call_registers_and_starts_it_again(
    lenient: bool,
) -> None:
    broken, _working, log = two_plugins()
    bus = MessageBus.isolated()
    with pytest.warns(RuntimeWarning) if lenient else pytest.raises(PluginLoadError):
        register_handlers(bus, lenient=lenient)
    broken.fail_startup = False
    infos = register_handlers(bus, lenient=lenient)  # no DuplicateHandlerError
    assert [i.error for i in infos] == [None, None]
    assert set(bus.command_handlers()) == {Ping, Pong}
    log.clear()
    assert bus.dispatch(Ping()) == "broken handled"
    assert log == ["working wrapped Ping", "broken wrapped Ping"]  # re-added: now innermost


def test_a_failed_restart_after_close_removes_the_registrations_too() -> None:
    broken, _working, log = two_plugins()
    broken.fail_startup = False
    bus = MessageBus.isolated()
    register_handlers(bus)
    bus.close()
    broken.fail_startup = True
    with pytest.warns(RuntimeWarning, match="'broken' failed in its startup hook"):
        register_handlers(bus, lenient=True)
    assert_only_working_is_registered(bus, log)


def test_removal_leaves_a_handler_that_replaced_the_plugins_own() -> None:
    log: list[str] = []

    class Replaces(Contributor):
        @llmgine.hookimpl
        def startup(self, bus: MessageBus) -> None:
            # It swaps its handler for one of the app's, then fails: the app's one stays.
            bus.unregister_command(Ping)
            bus.register_command(Ping, lambda c: "app handled", source="app")
            raise RuntimeError("cannot start")

    register_plugin(Replaces("replaces", Ping, log), "replaces")
    bus = MessageBus.isolated()
    with pytest.warns(RuntimeWarning):
        register_handlers(bus, lenient=True)
    assert bus.dispatch(Ping()) == "app handled"
    assert bus.subscriptions == ()


def test_the_warning_points_at_the_caller_of_register_handlers() -> None:
    two_plugins()
    with pytest.warns(RuntimeWarning, match="startup hook") as caught:
        register_handlers(MessageBus.isolated(), lenient=True)
    assert [w.filename for w in caught] == [__file__]
