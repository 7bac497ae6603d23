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


@dataclass
class Pung(Command[str]):
    pass


class Contributor:
    """Registers a command, a subscriber and both middleware; its startup may fail."""

    def __init__(self, name: str, command: type[Command[str]], log: list[str]) -> None:
        self.name = name
        self.command = command
        self.log = log
        self.fail_startup = False
        self.fail_register = False

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
        if self.fail_register:
            raise RuntimeError(f"{self.name} cannot register")

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
    # Where it would have been had it started the first time: first in load order.
    assert log == ["broken wrapped Ping", "working wrapped Ping"]


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
    # (only ours: the garbage collector may report, say, another test's unclosed
    # database meanwhile, at whatever line it happens to run)
    assert [w.filename for w in caught if "startup hook" in str(w.message)] == [__file__]


def add_host_middleware(bus: MessageBus, name: str, log: list[str]) -> None:
    """A command and an event middleware of the app's, logging like a Contributor's."""

    def on_command(command: Any, call_next: Callable[[Any], Any]) -> Any:
        log.append(f"{name} wrapped {type(command).__name__}")
        return call_next(command)

    def on_event(event: Any, call_next: Callable[[Any], Any]) -> Any:
        log.append(f"{name} wrapped {event.event_type}")
        return call_next(event)

    bus.add_command_middleware(on_command)
    bus.add_event_middleware(on_event)


def set_up(bus: MessageBus, log: list[str], lenient: bool, plugins: list[Contributor]) -> None:
    """Host middleware, register_handlers() (the plugins set to fail do so), more host
    middleware, then register_handlers() again with none failing."""
    add_host_middleware(bus, "host-before", log)
    if any(p.fail_startup or p.fail_register for p in plugins):
        with pytest.warns(RuntimeWarning) if lenient else pytest.raises(PluginLoadError):
            register_handlers(bus, lenient=lenient)
    else:
        register_handlers(bus, lenient=lenient)
    add_host_middleware(bus, "host-after", log)
    for plugin in plugins:
        plugin.fail_startup = plugin.fail_register = False
    register_handlers(bus, lenient=lenient)


HOST_AND_PLUGINS = ["host-before", "a", "b", "c", "host-after"]


def assert_middleware_order(bus: MessageBus, log: list[str]) -> None:
    """Host middleware added before register_handlers() outermost, then the plugins' in load
    order, then the host's added after it; the same for commands and for events."""
    log.clear()
    bus.dispatch(Pong())
    assert log == [f"{n} wrapped Pong" for n in HOST_AND_PLUGINS]
    log.clear()
    bus.emit(Event())
    # Three plugin subscribers (in the order they subscribed), each inside the whole chain.
    calls = [log[i : i + 6] for i in range(0, len(log), 6)]
    assert [call[:5] for call in calls] == [[f"{n} wrapped event" for n in HOST_AND_PLUGINS]] * 3
    assert sorted(call[5] for call in calls) == ["a saw event", "b saw event", "c saw event"]


def three_plugins() -> tuple[list[Contributor], list[str]]:
    log: list[str] = []
    plugins = [Contributor(name, cmd, log) for name, cmd in (("a", Ping), ("b", Pong), ("c", Pung))]
    for plugin in plugins:
        register_plugin(plugin, plugin.name)
    return plugins, log


@pytest.mark.parametrize(
    ("failing", "hook", "lenient"),
    [
        *[(fail, "startup", lenient) for fail in ("a", "b", "bc") for lenient in (True, False)],
        # In lenient mode a plugin whose register_* hook fails is not tried again.
        ("b", "register", False),
    ],
)
def test_a_plugin_registered_again_after_a_failure_gets_its_middleware_place_back(
    failing: str, hook: str, lenient: bool
) -> None:
    plugins, log = three_plugins()
    # The order on a bus where every plugin started the first time ...
    first_time = MessageBus.isolated()
    set_up(first_time, log, lenient, plugins)
    assert_middleware_order(first_time, log)
    # ... is the order on one where some failed once and were registered again.
    bus = MessageBus.isolated()
    for plugin in plugins:
        setattr(plugin, f"fail_{hook}", plugin.name in failing)
    set_up(bus, log, lenient, plugins)
    assert [i.error for i in register_handlers(bus)] == [None, None, None]
    assert_middleware_order(bus, log)


def test_a_plugin_that_fails_to_restart_after_close_gets_its_middleware_place_back() -> None:
    plugins, log = three_plugins()
    bus = MessageBus.isolated()
    add_host_middleware(bus, "host-before", log)
    register_handlers(bus)
    add_host_middleware(bus, "host-after", log)
    bus.close()
    plugins[1].fail_startup = True
    with pytest.warns(RuntimeWarning, match="'b' failed in its startup hook"):
        register_handlers(bus, lenient=True)
    plugins[1].fail_startup = False
    register_handlers(bus)
    assert_middleware_order(bus, log)


class Exits:
    """A plugin that calls sys.exit() in one hook, as plugins do for "install X first"."""

    def __init__(self, hook: str) -> None:
        self.hook = hook

    def _maybe_exit(self, hook: str) -> None:
        if hook == self.hook:
            raise SystemExit(f"{hook}: install the frobnicator first")

    @llmgine.hookimpl
    def register_commands(self, register: Callable[..., None]) -> None:
        self._maybe_exit("register_commands")
        register(Pung, lambda c: "pung")

    @llmgine.hookimpl
    def startup(self) -> None:
        self._maybe_exit("startup")

    @llmgine.hookimpl
    def shutdown(self) -> None:
        self._maybe_exit("shutdown")

    @llmgine.hookimpl
    def plugin_status(self) -> None:
        self._maybe_exit("plugin_status")


@pytest.mark.parametrize(
    ("hook", "what"),
    [
        ("register_commands", "could not register its handlers"),
        ("startup", "failed in its startup hook"),
    ],
)
def test_sys_exit_in_a_hook_is_a_failure_of_the_plugin_not_the_end_of_the_app(
    hook: str, what: str
) -> None:
    register_plugin(Exits(hook), "exits")
    bus = MessageBus.isolated()
    with pytest.raises(PluginLoadError, match=f"plugin 'exits' {what}: SystemExit: {hook}"):
        register_handlers(bus)
    with pytest.warns(RuntimeWarning, match=f"'exits' {what}"):
        register_handlers(bus, lenient=True)  # the application goes on
    with pytest.raises(LookupError):
        bus.dispatch(Pung())  # the plugin contributes nothing


def test_sys_exit_in_shutdown_is_reported_and_the_other_callbacks_run() -> None:
    register_plugin(Exits("shutdown"), "exits")
    bus = MessageBus.isolated()
    ran: list[str] = []
    bus.on_close(lambda: ran.append("before"))
    register_handlers(bus)
    with pytest.raises(ExceptionGroup) as raised:
        bus.close()
    (error,) = raised.value.exceptions
    assert isinstance(error, PluginLoadError)
    assert "failed in its shutdown hook: SystemExit" in str(error)
    assert ran == ["before"]


def test_sys_exit_in_plugin_status_is_a_load_error_and_can_be_retried() -> None:
    with pytest.raises(PluginLoadError, match="plugin_status hook: SystemExit"):
        register_plugin(Exits("plugin_status"), "exits")
    register_plugin(Exits("never"), "exits")  # nothing of the first attempt is left
