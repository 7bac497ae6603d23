"""The ``llmgine`` command with plugins whose hooks misbehave: each is reported, by name,
and the command (``llmgine plugins`` above all) keeps working."""

from __future__ import annotations

import json
from typing import Any

import llmgine
import pytest
from llmgine import cli
from llmgine.messages.bus import MessageBus
from llmgine.plugins import PluginLoadError, get_plugin_manager, register_handlers, register_plugin

pytestmark = pytest.mark.usefixtures("no_installed_plugins")


class Fine:
    @llmgine.hookimpl
    def register_cli(self, subparsers: Any) -> None:
        subparsers.add_parser("fine").set_defaults(func=lambda args: 7)


class CliRaises:
    @llmgine.hookimpl
    def register_cli(self, subparsers: Any) -> None:
        raise RuntimeError("cli boom")


class CliExits:
    @llmgine.hookimpl
    def register_cli(self, subparsers: Any) -> None:
        raise SystemExit("install the frobnicator first")


class CliClashes:
    @llmgine.hookimpl
    def register_cli(self, subparsers: Any) -> None:
        subparsers.add_parser("plugins", help="takes the core's subcommand")


def _rows(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, Any]]:
    assert cli.main(["plugins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    # The installed plugins are there too, disabled by the no_installed_plugins fixture.
    return {row["name"]: row for row in rows if row["state"] != "disabled"}


@pytest.mark.parametrize(
    ("plugin", "problem"),
    [
        (CliRaises(), "RuntimeError: cli boom"),
        (CliExits(), "SystemExit: install the frobnicator first"),
        (CliClashes(), "conflicting subparser: plugins"),
    ],
)
def test_a_failing_register_cli_hook_is_reported_and_the_command_still_works(
    capsys: pytest.CaptureFixture[str], plugin: object, problem: str
) -> None:
    register_plugin(plugin, "broken-cli")
    register_plugin(Fine(), "fine")
    assert cli.main(["fine"]) == 7  # the other plugins' subcommands still work
    warned = capsys.readouterr().err
    assert "plugin 'broken-cli' failed in its register_cli hook" in warned
    assert problem in warned
    rows = _rows(capsys)
    assert rows["broken-cli"]["state"] == "error"
    assert problem in rows["broken-cli"]["error"]
    assert rows["fine"]["state"] == "active"


def test_a_status_that_is_not_a_plugin_status_is_a_load_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class SaysTrue:
        @llmgine.hookimpl
        def plugin_status(self) -> object:
            return True

    with pytest.raises(PluginLoadError, match=r"'says-true' failed in its plugin_status hook"):
        register_plugin(SaysTrue(), "says-true")
    assert _rows(capsys) == {}


def test_a_raising_plugin_status_leaves_nothing_registered_and_can_be_retried() -> None:
    class Flaky:
        healthy = False

        @llmgine.hookimpl
        def plugin_status(self) -> llmgine.plugins.PluginStatus:
            if not self.healthy:
                raise RuntimeError("status boom")
            return llmgine.plugins.PluginStatus(active=True)

    flaky = Flaky()
    with pytest.raises(PluginLoadError, match=r"'flaky' failed in its plugin_status hook.*boom"):
        register_plugin(flaky, "flaky")
    assert get_plugin_manager().get_plugin("flaky") is None
    flaky.healthy = True
    assert register_plugin(flaky, "flaky") == "flaky"


# BaseException policy: whatever a plugin's hook raises but KeyboardInterrupt is its failure.


class CustomBase(BaseException):
    """A BaseException that is not an Exception, as a careless plugin might define one."""


def _raising() -> list[BaseException]:
    return [CustomBase("custom boom"), GeneratorExit("generator boom"), SystemExit("exit boom")]


class RaisesIn:
    """A plugin implementing every hook; the one named ``hook`` raises ``exc``."""

    def __init__(self, hook: str, exc: BaseException) -> None:
        self.hook = hook
        self.exc = exc

    def _maybe_raise(self, hook: str) -> None:
        if hook == self.hook:
            raise self.exc

    @llmgine.hookimpl
    def register_commands(self, register: Any) -> None:
        self._maybe_raise("register_commands")

    @llmgine.hookimpl
    def register_subscribers(self, subscribe: Any) -> None:
        self._maybe_raise("register_subscribers")

    @llmgine.hookimpl
    def register_middleware(self, add_command_middleware: Any) -> None:
        self._maybe_raise("register_middleware")

    @llmgine.hookimpl
    def register_messages(self, register: Any) -> None:
        self._maybe_raise("register_messages")

    @llmgine.hookimpl
    def startup(self, bus: MessageBus) -> None:
        self._maybe_raise("startup")

    @llmgine.hookimpl
    def shutdown(self, bus: MessageBus) -> None:
        self._maybe_raise("shutdown")

    @llmgine.hookimpl
    def plugin_status(self) -> None:
        self._maybe_raise("plugin_status")

    @llmgine.hookimpl
    def register_cli(self, subparsers: Any) -> None:
        self._maybe_raise("register_cli")


def _run_hook(hook: str, plugin: object) -> None:
    """Register ``plugin``, then do what calls its ``hook`` (strict mode)."""
    register_plugin(plugin, "interrupted")
    bus = MessageBus.isolated()
    if hook == "register_cli":
        cli.build_parser()
        return
    register_handlers(bus)
    bus.close()  # (runs the shutdown hooks)


LOAD_HOOKS = ["plugin_status", "register_messages"]  # called by register_plugin itself
BUS_HOOKS = ["register_commands", "register_subscribers", "register_middleware", "startup"]


@pytest.mark.parametrize("exc", _raising(), ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("hook", LOAD_HOOKS)
def test_any_base_exception_in_a_load_hook_is_a_load_error_naming_the_plugin(
    hook: str, exc: BaseException
) -> None:
    with pytest.raises(PluginLoadError, match=rf"'careless' failed in its {hook} hook") as caught:
        register_plugin(RaisesIn(hook, exc), "careless")
    assert caught.value.plugin == "careless"
    assert caught.value.__cause__ is exc
    assert get_plugin_manager().get_plugin("careless") is None  # left out: can be retried


@pytest.mark.parametrize("exc", _raising(), ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("hook", BUS_HOOKS)
def test_any_base_exception_in_a_bus_hook_is_the_plugins_failure(
    hook: str, exc: BaseException, recwarn: pytest.WarningsRecorder
) -> None:
    register_plugin(RaisesIn(hook, exc), "careless")
    bus = MessageBus.isolated()
    with pytest.raises(PluginLoadError, match=rf"plugin 'careless' \S.* {type(exc).__name__}"):
        register_handlers(bus)
    # Lenient: a warning, and the plugin carries the error; nothing of it stays on the bus.
    (info,) = register_handlers(bus, lenient=True)
    assert info.error is not None
    assert type(exc).__name__ in info.error
    assert any("'careless'" in str(w.message) for w in recwarn)
    assert bus.command_handlers() == {}
    assert not bus.subscriptions


@pytest.mark.parametrize("exc", _raising(), ids=lambda e: type(e).__name__)
def test_any_base_exception_in_shutdown_is_raised_by_close_as_the_plugins_failure(
    exc: BaseException,
) -> None:
    register_plugin(RaisesIn("shutdown", exc), "careless")
    bus = MessageBus.isolated()
    register_handlers(bus)
    with pytest.raises(ExceptionGroup) as caught:
        bus.close()
    (error,) = caught.value.exceptions
    assert isinstance(error, PluginLoadError)
    assert error.plugin == "careless"
    assert "failed in its shutdown hook" in str(error)
    assert error.__cause__ is exc


@pytest.mark.parametrize("exc", _raising(), ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("hook", ["register_commands", "register_subscribers", "register_cli"])
def test_llmgine_plugins_lists_a_plugin_raising_any_base_exception_as_an_error(
    capsys: pytest.CaptureFixture[str], hook: str, exc: BaseException
) -> None:
    register_plugin(RaisesIn(hook, exc), "careless")
    register_plugin(Fine(), "fine")
    rows = _rows(capsys)
    assert rows["careless"]["state"] == "error"
    assert type(exc).__name__ in rows["careless"]["error"]
    assert rows["fine"]["state"] == "active"


@pytest.mark.parametrize("hook", [*LOAD_HOOKS, *BUS_HOOKS, "shutdown", "register_cli"])
def test_keyboard_interrupt_in_any_hook_propagates(hook: str) -> None:
    with pytest.raises(KeyboardInterrupt):
        _run_hook(hook, RaisesIn(hook, KeyboardInterrupt()))
