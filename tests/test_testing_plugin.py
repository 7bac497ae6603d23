"""The pytest plugin (llmgine.testing), exercised through pytester on small test files."""

from __future__ import annotations

from dataclasses import dataclass

import llmgine
import pytest
from llmgine.messages import Command, MessageBus
from llmgine.plugins import Register
from llmgine.testing import LoadPlugin

PLUGIN_MODULE = """
from dataclasses import dataclass

import llmgine
from llmgine.messages.bus import message_bus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event

@dataclass
class Greet(Command[str]):
    name: str

@dataclass
class Greeted(Event):
    event_type = "greeting.sent"
    name: str

@dataclass
class Logged(Event):
    event_type = "greeting.logged"
    name: str

STARTED = []
STOPPED = []

def greet(command):
    message_bus.add_pending_event(Greeted(name=command.name))
    return f"hello {command.name}"

def log_greeting(event):
    message_bus.add_pending_event(Logged(name=event.name))

@llmgine.hookimpl
def register_commands(register):
    register(Greet, greet)

@llmgine.hookimpl
def register_subscribers(subscribe):
    subscribe("greeting.sent", log_greeting)

@llmgine.hookimpl
def startup(bus):
    STARTED.append(bus)

@llmgine.hookimpl
def shutdown(bus):
    STOPPED.append(bus)
"""


def test_fixtures_load_a_plugin_and_record_its_events(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(greeter=PLUGIN_MODULE)
    pytester.makepyfile(
        """
        import pytest
        import greeter
        from llmgine.messages.bus import MessageBus, message_bus
        from llmgine.messages.events import Event

        def test_dispatch(llmgine_bus, llmgine_events, llmgine_load_plugin):
            name = llmgine_load_plugin(greeter)
            assert greeter.STARTED == [llmgine_bus]
            command = greeter.Greet(name="ada")
            assert llmgine_bus.dispatch(command) == "hello ada"
            assert llmgine_events.types() == ["greeting.sent", "greeting.logged"]
            sent, logged = llmgine_events.assert_order(greeter.Greeted, "greeting.*")
            assert sent.causation_id == command.command_id
            assert logged.causation_id == sent.event_id
            assert llmgine_events.by_correlation(command.command_id) == [sent, logged]
            assert llmgine_events.caused_by(sent.event_id) == [logged]
            assert llmgine_events.one("greeting.logged") is logged
            assert len(llmgine_events.of(Event)) == 2
            llmgine_events.assert_none("resource.*")
            # installed plugins and the process-wide bus are untouched
            assert message_bus.command_handlers() == {}

        def test_the_plugin_was_unloaded_and_shut_down():
            from llmgine.plugins import get_plugin_manager
            assert len(greeter.STOPPED) == 1
            assert get_plugin_manager().get_plugin("greeter-test1") is None

        def test_bus_is_strict(llmgine_bus):
            assert llmgine_bus.strict and llmgine_bus is not message_bus
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3)


def test_recorder_failures_say_what_was_recorded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from llmgine.messages.events import Event

        class Ping(Event):
            event_type = "ping"

        class Pong(Event):
            event_type = "pong"

        def test_order(llmgine_bus, llmgine_events):
            llmgine_bus.emit(Pong())
            llmgine_bus.emit(Ping())
            llmgine_events.assert_order("ping", "pong")

        def test_one(llmgine_bus, llmgine_events):
            llmgine_bus.emit(Ping())
            llmgine_bus.emit(Ping())
            llmgine_events.one(Ping)

        def test_none(llmgine_bus, llmgine_events):
            llmgine_bus.emit(Ping())
            llmgine_events.assert_none("p*ng")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=3)
    out = result.stdout.str()
    assert "no event matching 'pong' after 'ping'; recorded: ['pong', 'ping']" in out
    assert "expected exactly one event matching Ping, got 2; recorded: ['ping', 'ping']" in out
    assert "a wildcard must be a whole segment" in out


def test_strict_bus_fails_the_test_on_a_subscriber_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from llmgine.messages.events import Event

        def test_boom(llmgine_bus):
            def broken(event):
                raise ValueError("boom")
            llmgine_bus.subscribe_event("*", broken)
            llmgine_bus.emit(Event())
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*SubscriberError*1 subscriber(s) of event 'event' failed*"])


def test_llmgine_bus_teardown_leaves_the_suites_event_loop_set(
    pytester: pytest.Pytester,
) -> None:
    # Suites that set an event loop for several tests (or a plugin that does) must
    # still find it after a test that used llmgine_bus.
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.fixture(scope="module")
        def loop():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            yield loop
            asyncio.set_event_loop(None)
            loop.close()

        def test_with_bus(loop, llmgine_bus):
            async def flush():
                pass
            llmgine_bus.on_close(flush)  # closed with aclose() at teardown

        def test_after(loop):
            assert asyncio.get_event_loop() is loop
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)


def test_message_bus_is_restored_after_each_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(greeter=PLUGIN_MODULE)
    pytester.makepyfile(
        """
        import pytest
        import greeter
        from llmgine.messages.bus import message_bus
        from llmgine.messages.events import Event
        from llmgine.plugins import get_plugin_manager, register_plugin, register_handlers

        SEEN = []

        @pytest.fixture(scope="module")
        def module_subscriber():
            sub = message_bus.subscribe_event("ping", SEEN.append)
            yield sub
            sub.unsubscribe()

        class Other(greeter.Greet):
            pass

        @pytest.fixture
        def function_handler():
            message_bus.register_command(Other, greeter.greet)
            yield
            message_bus.unregister_command(Other)  # must still be there

        def test_leaks(module_subscriber, function_handler):
            message_bus.subscribe_event("*", print)
            message_bus.add_command_middleware(lambda c, call_next: call_next(c))
            message_bus.strict = True
            register_plugin(greeter, "leaky")
            register_handlers(message_bus)

        def test_nothing_leaked(module_subscriber):
            assert greeter.STARTED == [message_bus]
            assert greeter.STOPPED == [message_bus]  # shut down when its registration was undone
            assert [s.key for s in message_bus.subscriptions] == ["ping"]
            assert message_bus.command_handlers() == {}
            assert not message_bus.strict
            assert get_plugin_manager().get_plugin("leaky") is None
            message_bus.emit(Event())

        def test_without_fixtures():
            message_bus.register_command(greeter.Greet, greeter.greet)

        def test_after_fixtureless():
            assert message_bus.command_handlers() == {}

        def test_module_fixture_survives(module_subscriber):
            assert module_subscriber.active
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=5)


def test_shutdown_hooks_run_once_per_startup_when_the_test_closes_the_bus(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "")  # register_handlers() loads only greeter
    pytester.makepyfile(greeter=PLUGIN_MODULE)
    pytester.makepyfile(
        """
        import asyncio
        import greeter
        from llmgine.messages.bus import message_bus
        from llmgine.plugins import register_handlers, register_plugin

        def test_close(llmgine_bus, llmgine_load_plugin):
            llmgine_load_plugin(greeter)
            llmgine_bus.close()

        def test_aclose(llmgine_bus, llmgine_load_plugin):
            llmgine_load_plugin(greeter)
            asyncio.run(llmgine_bus.aclose())

        def test_restarted(llmgine_bus, llmgine_load_plugin):
            llmgine_load_plugin(greeter)
            llmgine_bus.close()
            register_handlers(llmgine_bus)  # starts it again: teardown owes one shutdown

        def test_message_bus_closed():
            register_plugin(greeter, "on-global")
            register_handlers(message_bus)
            message_bus.close()

        def test_counts():
            assert len(greeter.STARTED) == 5
            assert len(greeter.STOPPED) == 5
        """
    )
    # In a subprocess, where no installed plugin has been discovered yet.
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=5)


MIDDLEWARE = """
WRAPPED = []

def wrap(message, call_next):
    WRAPPED.append(type(message).__name__)
    return call_next(message)

@llmgine.hookimpl
def register_middleware(add_command_middleware, add_event_middleware):
    add_command_middleware(wrap)
    add_event_middleware(wrap)
"""


def test_teardown_removes_the_plugin_from_every_bus_it_was_loaded_into(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(greeter=PLUGIN_MODULE + MIDDLEWARE)
    pytester.makepyfile(
        """
        import pytest
        import greeter
        from llmgine.messages.bus import MessageBus
        from llmgine.messages.events import Event

        OTHER = MessageBus.isolated(strict=True)

        @pytest.fixture(scope="module")
        def module_bus():
            return MessageBus.isolated(strict=True)

        def test_load(llmgine_load_plugin, module_bus):
            llmgine_load_plugin(greeter, bus=OTHER)
            llmgine_load_plugin(greeter, bus=module_bus)
            for bus in (OTHER, module_bus):
                assert bus.dispatch(greeter.Greet(name="ada")) == "hello ada"
            assert greeter.STARTED == [OTHER, module_bus]

        def test_nothing_is_left_on_them(module_bus):
            assert greeter.STOPPED == [OTHER, module_bus]  # shut down once each
            for bus in (OTHER, module_bus):
                assert bus.command_handlers() == {}
                assert bus.subscriptions == ()
                bus.register_command(greeter.Greet, lambda command: "app")
                greeter.WRAPPED.clear()
                assert bus.dispatch(greeter.Greet(name="ada")) == "app"
                bus.emit(greeter.Greeted(name="ada"))
                assert greeter.WRAPPED == []  # no middleware
                bus.unregister_command(greeter.Greet)
                bus.close()
            assert greeter.STOPPED == [OTHER, module_bus]  # closing does not run it again

        def test_it_loads_into_them_again(llmgine_load_plugin, module_bus):
            for bus in (OTHER, module_bus):
                llmgine_load_plugin(greeter, bus=bus)
                assert bus.dispatch(greeter.Greet(name="bob")) == "hello bob"
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3)


def test_a_plugin_that_failed_to_start_is_not_shut_down(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        greeter=PLUGIN_MODULE.replace("STARTED.append(bus)", "raise RuntimeError('no start')")
    )
    pytester.makepyfile(
        """
        import pytest
        import greeter
        from llmgine.plugins import PluginLoadError

        def test_load(llmgine_bus, llmgine_load_plugin):
            with pytest.raises(PluginLoadError, match="no start"):
                llmgine_load_plugin(greeter)
            assert llmgine_bus.command_handlers() == {}

        def test_not_shut_down():
            assert greeter.STOPPED == []
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_fixtures_are_not_autouse(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_fixtures(request):
            assert not any(n.startswith("llmgine") for n in request.fixturenames)
        """
    )
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(["llmgine_bus*", "llmgine_events*", "llmgine_load_plugin*"])
    pytester.runpytest().assert_outcomes(passed=1)


def test_bus_snapshot_restores_and_works_as_context_manager() -> None:
    from llmgine.messages.bus import MessageBus
    from llmgine.messages.events import Event

    bus = MessageBus.isolated()
    seen: list[Event] = []
    bus.subscribe_event("*", seen.append)
    with bus.snapshot() as snapshot:
        bus.subscribe_event("*", lambda e: seen.append(e))
        bus.emit(Event())
        assert len(seen) == 2
        assert snapshot.changed()
    assert not snapshot.changed()
    bus.emit(Event())
    assert len(seen) == 3


def test_bus_snapshot_restores_extensions_in_place() -> None:
    from llmgine.messages.bus import MessageBus

    bus = MessageBus.isolated()
    names: list[str] = ["a"]
    bus.extensions["plugins"] = names
    snapshot = bus.snapshot()
    names.append("b")
    bus.extensions["new"] = {"x": 1}
    assert snapshot.changed()
    snapshot.restore()
    assert bus.extensions == {"plugins": ["a"]}
    assert bus.extensions["plugins"] is names  # close callbacks may hold the same list
    assert not snapshot.changed()


def test_loading_a_plugin_again_reuses_its_registration(
    llmgine_bus: MessageBus, llmgine_load_plugin: LoadPlugin
) -> None:
    class Plugin:
        @llmgine.hookimpl
        def register_commands(self, register: Register) -> None:
            register(Ping, lambda command: "pong")

    plugin = Plugin()
    first = llmgine_load_plugin(plugin)
    assert llmgine_load_plugin(plugin) == first  # same bus: registered once, no duplicate error
    other = MessageBus.isolated()
    assert llmgine_load_plugin(plugin, bus=other) == first  # another bus: registered there too
    assert llmgine_bus.dispatch(Ping()) == "pong"
    assert other.dispatch(Ping()) == "pong"


@dataclass
class Ping(Command[str]):
    pass


def test_llmgine_plugin_host_is_a_fresh_default_host_for_one_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(greeter=PLUGIN_MODULE)
    pytester.makepyfile(
        """
        import greeter
        from llmgine.messages import MessageBus
        from llmgine.plugins import get_plugin_host, register_handlers, register_plugin

        BEFORE = get_plugin_host()

        def test_fresh(llmgine_plugin_host, monkeypatch):
            monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "")
            assert get_plugin_host() is llmgine_plugin_host is not BEFORE
            register_plugin(greeter, "greeter")
            bus = MessageBus.isolated()
            assert [i.name for i in register_handlers(bus)] == ["greeter"]
            assert llmgine_plugin_host.registered_on(bus) == ["greeter"]

        def test_the_process_host_is_back_and_never_saw_the_plugin():
            assert get_plugin_host() is BEFORE
            assert BEFORE.info("greeter") is None
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_a_plugin_a_test_adds_next_to_a_module_fixtures_is_taken_off_message_bus(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "")
    pytester.makepyfile(greeter=PLUGIN_MODULE)
    pytester.makepyfile(
        """
        import pytest
        import llmgine
        import greeter
        from llmgine.messages.bus import message_bus
        from llmgine.plugins import (
            PluginHost, get_plugin_host, register_handlers, register_plugin, use_plugin_host
        )

        class Other:
            @llmgine.hookimpl
            def startup(self, bus):
                pass

        @pytest.fixture(scope="module")
        def greeter_on_message_bus():
            with use_plugin_host(PluginHost()) as host:
                register_plugin(greeter, "greeter")
                register_handlers(message_bus)
                yield
                host.stop(message_bus, ["greeter"])
                host.remove_from(message_bus, "greeter")

        def test_adds_another(greeter_on_message_bus):
            register_plugin(Other(), "other")
            register_handlers(message_bus)
            assert get_plugin_host().registered_on(message_bus) == ["greeter", "other"]

        def test_only_the_module_fixtures_plugin_is_left(greeter_on_message_bus):
            assert get_plugin_host().registered_on(message_bus) == ["greeter"]
            assert message_bus.dispatch(greeter.Greet(name="ada")) == "hello ada"
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)
