"""Registering plugin objects (not installed) and what register_handlers() does with them.

Installed distributions are covered in tests/integration/test_installed_plugins.py.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import llmgine
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.errors import CommandHandlerNotFound
from llmgine.messages.events import Event, ResourceCreatedEvent
from llmgine.plugins import (
    MessageCatalog,
    PluginHost,
    PluginLoadError,
    PluginStatus,
    RegisterMessage,
    WireNameClash,
    _core_messages,
    default_wire_name,
    get_message_catalog,
    get_plugin_host,
    get_plugin_manager,
    register_handlers,
    register_plugin,
    use_plugin_host,
)

from .threads import race


@dataclass
class Greet(Command[str]):
    name: str


@dataclass
class Greeted(Event):
    event_type = "greeting.sent"
    name: str


class GreeterPlugin:
    """A plugin object implementing every core hook, recording how it was called."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.seen: list[Event] = []

    @llmgine.hookimpl
    def register_commands(self, register: Any) -> None:
        self.calls.append("register_commands")
        register(Greet, self.greet)

    @llmgine.hookimpl
    def register_subscribers(self, subscribe: Any) -> None:
        self.calls.append("register_subscribers")
        subscribe("greeting.*", self.seen.append)

    @llmgine.hookimpl
    def startup(self, bus: MessageBus) -> None:
        self.calls.append("startup")

    @llmgine.hookimpl
    def shutdown(self, bus: MessageBus) -> None:
        self.calls.append("shutdown")

    @llmgine.hookimpl
    def plugin_status(self) -> PluginStatus:
        return PluginStatus(active=False, detail="no greeting file", activate="set GREETINGS=1")

    def greet(self, command: Greet) -> str:
        from llmgine.messages.bus import message_bus

        message_bus.add_pending_event(Greeted(command.name))
        return f"hello {command.name}"


# Plugin state is reset around each test; no installed plugin loads unless a test asks.
pytestmark = pytest.mark.usefixtures("no_installed_plugins")


def test_hook_register_commands_gives_the_bus_a_handler() -> None:
    plugin = GreeterPlugin()
    register_plugin(plugin, "greeter")
    bus = MessageBus.isolated(strict=True)
    infos = register_handlers(bus)
    assert [i.name for i in infos] == ["greeter"]
    assert bus.dispatch(Greet("ada")) == "hello ada"
    assert bus.command_handlers()[Greet] == (
        "tests.test_plugin_registration.GreeterPlugin.greet",
        "plugin 'greeter'",
    )


def test_hook_register_subscribers_subscribes_by_pattern() -> None:
    plugin = GreeterPlugin()
    register_plugin(plugin, "greeter")
    bus = MessageBus.isolated(strict=True)
    register_handlers(bus)
    bus.emit(Greeted("grace"))
    bus.dispatch(Greet("ada"))
    assert [e.name for e in plugin.seen] == ["grace", "ada"]  # type: ignore[attr-defined]
    assert [s.key for s in bus.subscriptions] == ["greeting.*"]


def test_register_handlers_is_idempotent() -> None:
    plugin = GreeterPlugin()
    register_plugin(plugin, "greeter")
    bus = MessageBus.isolated(strict=True)
    register_handlers(bus)
    register_handlers(bus)  # a second call must not register twice (that would raise)
    bus.dispatch(Greet("ada"))
    assert len(plugin.seen) == 1
    assert plugin.calls.count("register_commands") == 1
    assert plugin.calls.count("startup") == 1


def test_each_bus_gets_its_own_registration() -> None:
    plugin = GreeterPlugin()
    register_plugin(plugin, "greeter")
    first, second = MessageBus.isolated(), MessageBus.isolated()
    register_handlers(first)
    register_handlers(second)
    assert second.dispatch(Greet("bo")) == "hello bo"
    assert plugin.calls.count("startup") == 2


def test_hook_startup_runs_after_registration() -> None:
    plugin = GreeterPlugin()
    register_plugin(plugin, "greeter")
    register_handlers(MessageBus.isolated())
    assert plugin.calls == ["register_commands", "register_subscribers", "startup"]


def test_hook_shutdown_runs_once_when_the_bus_closes() -> None:
    plugin = GreeterPlugin()
    register_plugin(plugin, "greeter")
    bus = MessageBus.isolated()
    register_handlers(bus)
    assert "shutdown" not in plugin.calls
    bus.close()
    assert plugin.calls[-1] == "shutdown"
    bus.close()  # close callbacks run once
    assert plugin.calls.count("shutdown") == 1


def test_hook_plugin_status_is_reported() -> None:
    register_plugin(GreeterPlugin(), "greeter")
    (info,) = register_handlers(MessageBus.isolated())
    assert info.status == PluginStatus(False, "no greeting file", "set GREETINGS=1")
    assert "plugin_status" in info.hooks


def test_unknown_hook_is_an_error_naming_plugin_and_hook() -> None:
    class Typo:
        @llmgine.hookimpl
        def register_comands(self, register: Any) -> None:  # sic
            raise AssertionError("never called")

    with pytest.raises(PluginLoadError, match=r"'typo'.*unknown hook 'register_comands'"):
        register_plugin(Typo(), "typo")
    assert get_plugin_manager().get_plugin("typo") is None


def test_optional_hook_of_absent_plugin_loads_fine() -> None:
    class UsesWorkflows:
        @llmgine.hookimpl(optionalhook=True)
        def register_workflows(self, register: Any) -> None:
            raise AssertionError("no workflows plugin, so never called")

    register_plugin(UsesWorkflows(), "uses-workflows")
    assert [i.name for i in register_handlers(MessageBus.isolated())] == ["uses-workflows"]


def test_two_plugins_handling_one_command_name_both_and_the_command() -> None:
    register_plugin(GreeterPlugin(), "greeter")
    register_plugin(GreeterPlugin(), "greeter-two")
    bus = MessageBus.isolated()
    with pytest.raises(PluginLoadError) as info:
        register_handlers(bus)
    message = str(info.value)
    assert "'greeter'" in message
    assert "'greeter-two'" in message
    assert "Greet" in message


def test_failed_registration_is_rolled_back_and_lenient_mode_goes_on() -> None:
    class HalfBroken:
        @llmgine.hookimpl
        def register_commands(self, register: Any) -> None:
            register(Greet, lambda c: "half")

        @llmgine.hookimpl
        def register_subscribers(self, subscribe: Any) -> None:
            subscribe("bad..pattern", print)

    register_plugin(HalfBroken(), "half-broken")
    bus = MessageBus.isolated()
    with pytest.warns(RuntimeWarning, match="half-broken.*could not register"):
        infos = register_handlers(bus, lenient=True)
    assert infos[0].error is not None
    with pytest.raises(CommandHandlerNotFound):  # its command was unregistered again
        bus.dispatch(Greet("x"))
    assert bus.subscriptions == ()


def test_a_plugin_module_can_be_registered() -> None:
    module = SimpleNamespace(__name__="my_app.plugin")

    @llmgine.hookimpl
    def register_commands(register: Any) -> None:
        register(Greet, lambda c: "from module")

    module.register_commands = register_commands  # type: ignore[attr-defined]
    register_plugin(module, "mod")
    bus = MessageBus.isolated()
    register_handlers(bus)
    assert bus.dispatch(Greet("x")) == "from module"


def test_hook_register_cli_adds_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    from llmgine import cli

    class Hello:
        @llmgine.hookimpl
        def register_cli(self, subparsers: Any) -> None:
            parser = subparsers.add_parser("hello", help="say hello")
            parser.add_argument("who")
            parser.set_defaults(func=lambda args: print(f"hello {args.who}") or 3)

    register_plugin(Hello(), "hello")
    assert cli.main(["hello", "world"]) == 3
    assert capsys.readouterr().out == "hello world\n"


def test_reset_bus_forgets_its_plugins_so_they_register_again() -> None:
    plugin = GreeterPlugin()
    register_plugin(plugin, "greeter")
    bus = MessageBus.isolated()
    register_handlers(bus)
    bus.reset()
    with pytest.raises(CommandHandlerNotFound):
        bus.dispatch(Greet("x"))
    register_handlers(bus)
    assert bus.dispatch(Greet("x")) == "hello x"
    assert plugin.calls.count("startup") == 2
    bus.close()
    assert plugin.calls.count("shutdown") == 1  # the reset dropped the first close callback


def test_a_registration_refused_on_one_bus_in_lenient_mode_leaves_other_buses_alone() -> None:
    register_plugin(GreeterPlugin(), "greeter")
    taken = MessageBus.isolated()
    taken.register_command(Greet, lambda command: "the app's own")
    with pytest.warns(RuntimeWarning, match="'greeter'.*could not register"):
        (info,) = register_handlers(taken, lenient=True)
    assert info.error is not None
    other = MessageBus.isolated()
    (info,) = register_handlers(other, lenient=True)
    assert info.error is None
    assert other.dispatch(Greet("ada")) == "hello ada"
    # and on the first bus, once the app's handler is gone, the next call registers it
    taken.unregister_command(Greet)
    register_handlers(taken, lenient=True)
    assert taken.dispatch(Greet("bo")) == "hello bo"


# register_messages and the message catalogue --------------------------------------------


@dataclass
class Shipped(Event):
    event_type = "parcel.shipped"
    parcel: str


@dataclass
class Track(Command[str]):
    parcel: str


class Courier:
    """A plugin naming one event with its default wire name and one command explicitly."""

    @llmgine.hookimpl
    def register_messages(self, register: RegisterMessage) -> None:
        register(Shipped)
        register(Track, "courier.Track")


def test_hook_register_messages_names_the_plugins_transportable_messages() -> None:
    register_plugin(Courier(), "courier")
    (info,) = register_handlers(MessageBus.isolated())
    assert default_wire_name(Shipped) == "tests.test_plugin_registration.Shipped"
    assert info.messages == (default_wire_name(Shipped), "courier.Track")
    catalog = get_message_catalog()
    assert catalog.class_of("courier.Track") is Track
    assert catalog.name_of(Shipped) == default_wire_name(Shipped)
    assert catalog.source_of("courier.Track") == "plugin 'courier'"


def test_the_cores_messages_are_registered_through_the_hook_but_not_listed_as_a_plugin() -> None:
    catalog = get_message_catalog()
    assert catalog.class_of("llmgine.ResourceCreatedEvent") is ResourceCreatedEvent
    assert catalog.source_of("llmgine.ResourceCreatedEvent") == "the llmgine core"
    assert "register_messages" in {
        c.name for c in get_plugin_manager().get_hookcallers(_core_messages) or ()
    }
    assert register_handlers(MessageBus.isolated()) == []  # the core is no plugin


def test_a_wire_name_claimed_by_two_plugins_is_a_load_error_naming_both() -> None:
    register_plugin(Courier(), "courier")

    @dataclass
    class OtherTrack(Command[str]):
        parcel: str

    class Rival:
        @llmgine.hookimpl
        def register_messages(self, register: RegisterMessage) -> None:
            register(Shipped, "rival.Shipped")  # fine on its own, but undone with the rest
            register(OtherTrack, "courier.Track")

    with pytest.raises(PluginLoadError, match="'rival' claims a wire name") as caught:
        register_plugin(Rival(), "rival")
    assert "plugin 'courier'" in str(caught.value)
    assert "plugin 'rival'" in str(caught.value)
    assert isinstance(caught.value.__cause__, WireNameClash)
    # All or nothing: none of the refused plugin's names stays; the first keeps its own.
    names = get_message_catalog().names()
    assert "rival.Shipped" not in names
    assert names["courier.Track"] is Track


def test_a_plugin_taken_out_of_the_host_takes_its_wire_names_along() -> None:
    host = get_plugin_host()
    host.register_plugin(Courier(), "courier")
    host.unregister_plugin("courier")
    assert get_message_catalog().class_of("courier.Track") is None
    host.register_plugin(Courier(), "courier")  # and it can be registered again
    assert get_message_catalog().class_of("courier.Track") is Track


def test_a_message_registered_by_reference_is_imported_on_first_lookup() -> None:
    class ByReference:
        @llmgine.hookimpl
        def register_messages(self, register: RegisterMessage) -> None:
            register("tests.test_plugin_registration:Shipped")  # the default name, unimported
            register("tests.test_plugin_registration:Track", "courier.Track")

    register_plugin(ByReference(), "by-reference")
    catalog = get_message_catalog()
    assert catalog.class_of(default_wire_name(Shipped)) is Shipped
    assert catalog.name_of(Track) == "courier.Track"
    with pytest.raises(WireNameClash, match=r"claimed by tests.test_plugin_registration:Track"):
        catalog.register(Shipped, "courier.Track", source="app")


def test_a_reference_that_cannot_be_imported_names_itself_and_its_plugin() -> None:
    class Broken:
        @llmgine.hookimpl
        def register_messages(self, register: RegisterMessage) -> None:
            register("tests.no_such_module:Gone", "broken.Gone")
            register("tests.test_plugin_registration:Courier", "broken.NotAMessage")

    register_plugin(Broken(), "broken")
    catalog = get_message_catalog()
    with pytest.raises(LookupError, match=r"plugin 'broken' registered message 'tests.no_such"):
        catalog.class_of("broken.Gone")
    with pytest.raises(TypeError, match=r"plugin 'broken': register\(\) needs an Event"):
        catalog.class_of("broken.NotAMessage")
    with pytest.raises(ValueError, match=r"'package\.module:ClassName' reference"):
        catalog.register("no colon", source="app")


def test_a_class_has_one_wire_name_whether_registered_by_class_or_by_reference() -> None:
    catalog = MessageCatalog()
    catalog.register(Shipped, "first", source="p1")
    with pytest.raises(WireNameClash, match=r"registered as 'first' \(p1\) and as 'second'"):
        catalog.register("tests.test_plugin_registration:Shipped", "second", source="p2")
    catalog.register("tests.test_plugin_registration:Track", "track", source="p1")
    with pytest.raises(WireNameClash, match="a class travels under one name"):
        catalog.register(Track, "other", source="p2")
    assert catalog.name_of(Shipped) == "first"
    assert catalog.names() == {"first": Shipped, "track": Track}


def test_a_name_two_sources_registered_stays_until_both_are_gone() -> None:
    catalog = MessageCatalog()
    catalog.register(Shipped, "shipped", source="p1")
    catalog.register(Shipped, "shipped", source="p2")
    catalog.remove_source("p1")
    assert catalog.name_of(Shipped) == "shipped"
    assert catalog.source_of("shipped") == "p2"
    catalog.remove_source("p2")
    assert catalog.name_of(Shipped) is None


def test_looking_a_reference_up_while_it_is_removed_does_not_fail() -> None:
    catalog = MessageCatalog()
    errors: list[BaseException] = []
    done = threading.Event()

    def look() -> None:
        while not done.is_set():
            try:
                catalog.class_of("w")
            except BaseException as exc:  # the race this test is about
                errors.append(exc)
                return

    def churn() -> None:
        try:
            for _ in range(3000):
                catalog.register("llmgine.messages.events:SystemEvent", "w", source="p")
                catalog.remove_source("p")
        finally:
            done.set()

    race(look, churn)
    assert errors == []


def test_loading_plugins_builds_none_of_the_cores_message_classes() -> None:
    code = (
        "import sys; from llmgine.plugins import PluginHost; host = PluginHost(); "
        "assert host.catalog.source_of('llmgine.SystemEvent') == 'the llmgine core'; "
        "print(sorted(m for m in sys.modules if m.startswith('llmgine.messages._core_')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['llmgine.messages._core_names']"


# The plugin host --------------------------------------------------------------------------


def test_use_plugin_host_gives_the_module_functions_a_fresh_host_then_the_old_one() -> None:
    register_plugin(GreeterPlugin(), "greeter")
    before = get_plugin_host()
    with use_plugin_host(PluginHost()) as fresh:
        assert get_plugin_host() is fresh
        assert get_plugin_manager() is fresh.plugin_manager
        assert register_handlers(MessageBus.isolated()) == []  # greeter is the other host's
    assert get_plugin_host() is before
    assert [i.name for i in register_handlers(MessageBus.isolated())] == ["greeter"]


def test_what_a_host_installed_on_a_bus_is_a_typed_record_on_that_bus() -> None:
    host = get_plugin_host()
    host.register_plugin(GreeterPlugin(), "greeter")
    bus = MessageBus.isolated()
    host.register_handlers(bus)
    record = host.record(bus)
    assert record.registered == ["greeter"]
    assert list(record.started) == ["greeter"]
    assert list(record.slots) == ["greeter"]
    assert list(record.registrations) == ["greeter"]
    assert host.registered_on(bus) == ["greeter"]
    assert not any(isinstance(key, str) for key in bus.extensions)  # no string keys
    # A fresh host has its own record: it sees the bus as clean.
    assert PluginHost().registered_on(bus) == []


def test_stop_and_remove_from_take_a_plugin_off_one_bus() -> None:
    plugin = GreeterPlugin()
    host = get_plugin_host()
    host.register_plugin(plugin, "greeter")
    bus = MessageBus.isolated()
    host.register_handlers(bus)
    assert host.stop(bus, ["greeter"]) == []
    host.remove_from(bus, "greeter")
    assert plugin.calls[-1] == "shutdown"
    assert host.registered_on(bus) == []
    with pytest.raises(CommandHandlerNotFound):
        bus.dispatch(Greet("x"))
    bus.close()  # stopped already: not shut down twice
    assert plugin.calls.count("shutdown") == 1


def test_a_plugin_blocked_by_the_environment_is_blocked_in_pluggy_but_install_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLMGINE_DISABLE_PLUGINS", "resources")
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "resources")  # (DISABLE wins)
    host = get_plugin_host()
    host.load_plugins()
    assert host.plugin_manager.is_blocked("resources")
    with pytest.raises(ValueError, match=r"blocked.*LLMGINE_DISABLE_PLUGINS"):
        register_plugin(GreeterPlugin(), "resources")
    bus = MessageBus.isolated()
    info = host.install_plugin(bus, "resources", GreeterPlugin())
    assert info.error is None
    assert bus.dispatch(Greet("x")) == "hello x"


def test_pluggy_check_pending_catches_a_plugin_put_into_the_manager_directly() -> None:
    class Typo:
        @llmgine.hookimpl
        def register_comands(self, register: Any) -> None:  # sic
            raise AssertionError("never called")

    get_plugin_manager().register(Typo(), "direct")  # bypassing register_plugin's checks
    with pytest.raises(PluginLoadError, match=r"'direct' \(registered with the plugin manager"):
        register_handlers(MessageBus.isolated())
    with use_plugin_host(PluginHost()):
        get_plugin_manager().register(Typo(), "direct")
        with pytest.warns(RuntimeWarning, match="'direct'.*register_comands"):
            register_handlers(MessageBus.isolated(), lenient=True)
