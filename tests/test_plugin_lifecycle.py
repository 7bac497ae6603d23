"""Plugins' startup and shutdown hooks, hooks llmgine can't call, and plugin name clashes.

Uses plugin objects added with register_plugin(); the name-clash tests also use the
llmgine-resources distribution that the development install provides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from importlib.metadata import entry_points
from typing import Any

import llmgine
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import CreateResourceCommand
from llmgine.messages.errors import DuplicateHandlerError
from llmgine.plugins import (
    ENTRY_POINT_GROUP,
    PluginLoadError,
    get_plugin_manager,
    load_plugins,
    register_handlers,
    register_plugin,
)

# Plugin state is reset around each test; no installed plugin loads unless a test asks.
pytestmark = pytest.mark.usefixtures("no_installed_plugins")


class Lifecycle:
    """A plugin recording its startup and shutdown in a shared log; either may be made to fail."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.fail_startup = False
        self.fail_shutdown = False

    @llmgine.hookimpl
    def startup(self, bus: MessageBus) -> None:
        self.log.append(f"start {self.name}")
        if self.fail_startup:
            raise RuntimeError(f"{self.name} cannot start")

    @llmgine.hookimpl
    def shutdown(self, bus: MessageBus) -> None:
        self.log.append(f"stop {self.name}")
        if self.fail_shutdown:
            raise RuntimeError(f"{self.name} cannot stop")


def plugins(log: list[str], *names: str) -> list[Lifecycle]:
    made = [Lifecycle(name, log) for name in names]
    for plugin in made:
        register_plugin(plugin, plugin.name)
    return made


# startup ------------------------------------------------------------------------------


def test_failed_startup_raises_naming_the_plugin_and_is_retried_next_call() -> None:
    log: list[str] = []
    a, _b, _c = plugins(log, "a", "b", "c")
    a.fail_startup = True
    bus = MessageBus.isolated()
    with pytest.raises(PluginLoadError, match=r"plugin 'a' failed in its startup hook: Runtime"):
        register_handlers(bus)
    assert log == ["start a"]
    a.fail_startup = False
    register_handlers(bus)  # registers nothing twice, starts what is not started
    assert log == ["start a", "start a", "start b", "start c"]
    register_handlers(bus)
    assert len(log) == 4


def test_failed_startup_error_chains_the_cause_and_names_the_plugin() -> None:
    (a,) = plugins([], "a")
    a.fail_startup = True
    with pytest.raises(PluginLoadError) as caught:
        register_handlers(MessageBus.isolated())
    assert caught.value.plugin == "a"
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_failed_startup_in_lenient_mode_warns_and_starts_the_others() -> None:
    log: list[str] = []
    a, _b = plugins(log, "a", "b")
    a.fail_startup = True
    bus = MessageBus.isolated()
    with pytest.warns(RuntimeWarning, match=r"'a' failed in its startup hook.*lenient"):
        infos = register_handlers(bus, lenient=True)
    assert log == ["start a", "start b"]
    assert {i.name: i.error is not None for i in infos} == {"a": True, "b": False}
    assert "a cannot start" in str(infos[0].error)
    bus.close()
    assert log[-1:] == ["stop b"]  # a never started, so it is not shut down
    a.fail_startup = False
    register_handlers(MessageBus.isolated(), lenient=True)  # the failure was this bus's only
    assert log[-2:] == ["start a", "start b"]


def test_startup_of_a_started_plugin_is_not_repeated_when_another_fails() -> None:
    log: list[str] = []
    _a, b = plugins(log, "a", "b")
    b.fail_startup = True
    bus = MessageBus.isolated()
    with pytest.raises(PluginLoadError, match="'b'"):
        register_handlers(bus)
    with pytest.raises(PluginLoadError, match="'b'"):
        register_handlers(bus)
    assert log == ["start a", "start b", "start b"]
    bus.close()  # a, started, is shut down although b's failure interrupted the first call
    assert log[-1] == "stop a"


# shutdown -----------------------------------------------------------------------------


def test_shutdown_runs_in_reverse_start_order() -> None:
    log: list[str] = []
    plugins(log, "a", "b", "c")
    bus = MessageBus.isolated()
    register_handlers(bus)
    bus.close()
    assert log[3:] == ["stop c", "stop b", "stop a"]


def test_every_shutdown_runs_and_failures_are_raised_together() -> None:
    log: list[str] = []
    a, _b, c = plugins(log, "a", "b", "c")
    a.fail_shutdown = c.fail_shutdown = True
    bus = MessageBus.isolated()
    register_handlers(bus)
    with pytest.raises(ExceptionGroup) as caught:
        bus.close()
    assert log[3:] == ["stop c", "stop b", "stop a"]
    # Each plugin's shutdown is a close callback of its own: its error is one of close()'s.
    errors = caught.value.exceptions
    assert [getattr(e, "plugin", e) for e in errors] == ["c", "a"]
    assert "plugin 'c' failed in its shutdown hook: RuntimeError: c cannot stop" in str(errors[0])


def test_after_close_register_handlers_starts_plugins_again_and_rearms_shutdown() -> None:
    log: list[str] = []
    plugins(log, "a", "b")
    bus = MessageBus.isolated()
    register_handlers(bus)
    bus.close()
    register_handlers(bus)  # handlers are still registered: only startup runs again
    assert log == ["start a", "start b", "stop b", "stop a", "start a", "start b"]
    bus.close()
    assert log[-2:] == ["stop b", "stop a"]
    bus.close()  # nothing started since
    assert len(log) == 8


class ClosesToo(Lifecycle):
    """Also adds a close callback in its startup, as the README suggests for async clean-up."""

    def __init__(self, name: str, log: list[str], *, async_callback: bool = False) -> None:
        super().__init__(name, log)
        self.async_callback = async_callback

    @llmgine.hookimpl
    def startup(self, bus: MessageBus) -> None:
        super().startup(bus)
        if self.async_callback:

            async def callback() -> None:
                await asyncio.sleep(0)
                self.log.append(f"callback {self.name}")

            bus.on_close(callback)
        else:
            bus.on_close(lambda: self.log.append(f"callback {self.name}"))


def close(bus: MessageBus, *, use_aclose: bool) -> None:
    if use_aclose:
        asyncio.run(bus.aclose())
    else:
        bus.close()


@pytest.mark.parametrize("use_aclose", [False, True], ids=["close", "aclose"])
def test_close_order_of_shutdown_hooks_and_close_callbacks(use_aclose: bool) -> None:
    # The order the README's `shutdown(bus)` section documents: nested like a stack.
    log: list[str] = []
    for name in ("a", "b"):
        register_plugin(ClosesToo(name, log, async_callback=use_aclose), name)
    bus = MessageBus.isolated()
    bus.on_close(lambda: log.append("app, before register_handlers"))
    register_handlers(bus)
    bus.on_close(lambda: log.append("app, after register_handlers"))
    del log[:]
    close(bus, use_aclose=use_aclose)
    assert log == [
        "app, after register_handlers",
        "callback b",
        "stop b",
        "callback a",
        "stop a",
        "app, before register_handlers",
    ]
    # Started again after the close: the same order, minus the app's callbacks (run once).
    register_handlers(bus)
    del log[:]
    close(bus, use_aclose=use_aclose)
    assert log == ["callback b", "stop b", "callback a", "stop a"]


class Connection(Lifecycle):
    """Holds a connection that its close callback (added in startup) closes."""

    open = False

    @llmgine.hookimpl
    def startup(self, bus: MessageBus) -> None:
        super().startup(bus)
        self.open = True

        def close_connection() -> None:
            self.open = False

        bus.on_close(close_connection)


class UsesConnection(Lifecycle):
    """Started after Connection; its shutdown still sends through the connection."""

    def __init__(self, name: str, log: list[str], connection: Connection) -> None:
        super().__init__(name, log)
        self.connection = connection

    @llmgine.hookimpl
    def shutdown(self, bus: MessageBus) -> None:
        if not self.connection.open:
            raise RuntimeError("connection closed before my shutdown")
        self.log.append("flushed through the connection")


def test_a_plugin_started_earlier_is_still_up_when_a_later_ones_shutdown_runs() -> None:
    log: list[str] = []
    connection = Connection("a", log)
    register_plugin(connection, "a")
    register_plugin(UsesConnection("b", log, connection), "b")
    bus = MessageBus.isolated()
    register_handlers(bus)
    bus.close()  # raised "connection closed before my shutdown" when a's callback ran first
    assert log[-2:] == ["flushed through the connection", "stop a"]
    assert not connection.open


def test_a_plugin_started_on_a_retry_nests_inside_those_started_before() -> None:
    log: list[str] = []
    a, b = (ClosesToo(name, log) for name in ("a", "b"))
    for plugin in (a, b):
        register_plugin(plugin, plugin.name)
    a.fail_startup = True
    bus = MessageBus.isolated()
    with pytest.warns(RuntimeWarning, match="'a' failed in its startup hook"):
        register_handlers(bus, lenient=True)
    a.fail_startup = False
    register_handlers(bus)  # a starts now, after b: it is shut down before b
    del log[:]
    bus.close()
    assert log == ["callback a", "stop a", "callback b", "stop b"]


def test_errors_of_shutdown_hooks_and_close_callbacks_are_raised_together() -> None:
    log: list[str] = []
    a, b = (ClosesToo(name, log) for name in ("a", "b"))
    for plugin in (a, b):
        register_plugin(plugin, plugin.name)
        plugin.fail_shutdown = True
    bus = MessageBus.isolated()
    register_handlers(bus)

    def fail() -> None:
        raise KeyError("app")

    bus.on_close(fail)
    del log[:]
    with pytest.raises(ExceptionGroup) as caught:
        bus.close()
    assert log == ["callback b", "stop b", "callback a", "stop a"]
    app, *stops = caught.value.exceptions  # one flat group: each shutdown is a callback
    assert isinstance(app, KeyError)
    assert [str(e).split(":")[0] for e in stops] == [
        "plugin 'b' failed in its shutdown hook",
        "plugin 'a' failed in its shutdown hook",
    ]


def test_reset_is_a_hard_reset_that_runs_no_shutdown_hook() -> None:
    # Documented (bus.reset's docstring, README "Testing your own handlers"): reset runs
    # nothing; close() first is how to shut the plugins down.
    log: list[str] = []
    plugins(log, "a")
    bus = MessageBus.isolated()
    bus.on_close(lambda: log.append("app callback"))
    register_handlers(bus)
    bus.reset()
    bus.close()  # nothing left to run: reset dropped the callback and the started plugin
    assert log == ["start a"]
    register_handlers(bus)  # registered and started anew
    bus.close()
    bus.reset()
    assert log == ["start a", "start a", "stop a"]


# hooks llmgine can't call -------------------------------------------------------------


class AsyncStart:
    @llmgine.hookimpl
    async def startup(self, bus: MessageBus) -> None:
        raise AssertionError("never called")


class AsyncStop:
    @llmgine.hookimpl
    async def shutdown(self, bus: MessageBus) -> None:
        raise AssertionError("never called")


@pytest.mark.parametrize(("plugin", "hook"), [(AsyncStart, "startup"), (AsyncStop, "shutdown")])
def test_async_startup_and_shutdown_are_rejected_at_registration(plugin: type, hook: str) -> None:
    with pytest.raises(
        PluginLoadError, match=rf"'async-hook'.*{hook!r}.*as async def.*plain def.*bus\.on_close"
    ):
        register_plugin(plugin(), "async-hook")
    assert get_plugin_manager().get_plugin("async-hook") is None


@pytest.mark.parametrize("option", ["wrapper", "hookwrapper"])
def test_wrapper_implementations_of_llmgine_hooks_are_rejected(option: str) -> None:
    class Wraps:
        @llmgine.hookimpl(**{option: True})
        def register_commands(self, register: Any) -> Generator[None, Any, None]:
            raise AssertionError("never called")
            yield

    with pytest.raises(PluginLoadError, match=r"'wraps'.*'register_commands'.*as a wrapper"):
        register_plugin(Wraps(), "wraps")
    assert get_plugin_manager().get_plugin("wraps") is None


def test_wrapper_of_another_plugins_hook_is_allowed() -> None:
    class Wraps:
        @llmgine.hookimpl(wrapper=True, optionalhook=True)
        def register_widgets(self) -> Generator[None, Any, Any]:
            return (yield)

    assert register_plugin(Wraps(), "wraps-other") == "wraps-other"


# installed plugins meeting others -----------------------------------------------------


@pytest.fixture
def installed_resources(no_installed_plugins: None, monkeypatch: pytest.MonkeyPatch) -> None:
    if not any(ep.name == "resources" for ep in entry_points(group=ENTRY_POINT_GROUP)):
        pytest.skip("needs llmgine-resources installed: python3 dev.py test installs it")
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "resources")


class Impostor:
    @llmgine.hookimpl
    def register_commands(self, register: Any) -> None:
        register(CreateResourceCommand, lambda c: "impostor")


@pytest.mark.usefixtures("installed_resources")
def test_installed_plugin_with_a_registered_plugins_name_is_an_error() -> None:
    register_plugin(Impostor(), "resources")
    with pytest.raises(PluginLoadError, match=r"'resources'.*llmgine-resources.*same name") as e:
        load_plugins()
    assert "register_plugin()" in str(e.value)
    assert e.value.distribution == "llmgine-resources"
    with pytest.raises(PluginLoadError, match="same name"):  # not skipped on a second call
        load_plugins()


@pytest.mark.usefixtures("installed_resources")
def test_name_clash_in_lenient_mode_keeps_the_first_plugin_and_lists_the_second() -> None:
    register_plugin(Impostor(), "resources")
    bus = MessageBus.isolated()
    with pytest.warns(RuntimeWarning, match="same name"):
        infos = register_handlers(bus, lenient=True)
    assert [(i.name, i.distribution, i.error is None) for i in infos] == [
        ("resources", None, True),
        ("resources", "llmgine-resources", False),
    ]
    assert bus.dispatch(CreateResourceCommand("t", {})) == "impostor"


@pytest.mark.usefixtures("installed_resources")
def test_registration_failure_names_distribution_and_version() -> None:
    bus = MessageBus.isolated()
    bus.register_command(CreateResourceCommand, lambda c: "mine")
    with pytest.raises(
        PluginLoadError,
        match=r"plugin 'resources' from llmgine-resources \d\S* could not register its "
        r"handlers: DuplicateHandlerError",
    ) as caught:
        register_handlers(bus)
    assert caught.value.distribution == "llmgine-resources"
    assert isinstance(caught.value.__cause__, DuplicateHandlerError)
