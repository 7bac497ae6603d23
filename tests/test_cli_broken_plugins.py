"""The ``llmgine`` command with plugins whose hooks misbehave: each is reported, by name,
and the command (``llmgine plugins`` above all) keeps working."""

from __future__ import annotations

import json
from typing import Any

import llmgine
import pytest
from llmgine import cli
from llmgine.plugins import PluginLoadError, get_plugin_manager, register_plugin

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
