"""Unknown names in ``LLMGINE_LOAD_PLUGINS`` / ``LLMGINE_DISABLE_PLUGINS`` warn once per
plugin host, naming the variable, the name and the closest installed plugin name.

The shipped plugins (audit, mcp, otel, redis, resources, workflows) are installed in the
test environment.
"""

from __future__ import annotations

import warnings
from typing import Any

import llmgine
import pytest
from llmgine import cli
from llmgine.messages.bus import MessageBus
from llmgine.plugins import (
    PluginHost,
    UnknownPluginNameWarning,
    load_plugins,
    register_handlers,
    register_plugin,
    use_plugin_host,
)


@pytest.fixture(autouse=True)
def _fresh_host(no_installed_plugins: None) -> None:
    """Before any other fixture: a fresh host that loads no installed plugin unless told."""


def typo_warnings(call: Any) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [w for w in caught if issubclass(w.category, UnknownPluginNameWarning)]


def messages(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught]


def test_register_handlers_warns_once_per_unknown_name_pointing_at_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "resourcs, audit")
    monkeypatch.setenv("LLMGINE_DISABLE_PLUGINS", "oetl,oetl,*")
    caught = typo_warnings(lambda: register_handlers(MessageBus.isolated()))
    assert messages(caught) == [
        "LLMGINE_LOAD_PLUGINS names 'resourcs', which is not an installed plugin; "
        "did you mean 'resources'?",
        "LLMGINE_DISABLE_PLUGINS names 'oetl', which is not an installed plugin; "
        "did you mean 'otel'?",
        "LLMGINE_DISABLE_PLUGINS names '*', which is not a plugin name; the variable takes "
        "comma-separated plugin names (entry-point or distribution names, see llmgine plugins)",
    ]
    assert issubclass(UnknownPluginNameWarning, UserWarning)
    assert {w.filename for w in caught} == {__file__}  # the application's call
    # Once per host: the next bus, or the next call, does not warn again.
    assert typo_warnings(lambda: register_handlers(MessageBus.isolated())) == []
    assert typo_warnings(load_plugins) == []


def test_load_plugins_warns_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "worklfows")
    caught = typo_warnings(load_plugins)
    assert messages(caught) == [
        "LLMGINE_LOAD_PLUGINS names 'worklfows', which is not an installed plugin; "
        "did you mean 'workflows'?"
    ]
    assert caught[0].filename == __file__
    with use_plugin_host(PluginHost()):  # a new host loads, and warns, again
        assert len(typo_warnings(load_plugins)) == 1


def test_a_name_close_to_nothing_lists_the_installed_plugins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLMGINE_DISABLE_PLUGINS", "kafka")
    (message,) = messages(typo_warnings(load_plugins))
    assert message == (
        "LLMGINE_DISABLE_PLUGINS names 'kafka', which is not an installed plugin "
        "(installed: audit, mcp, otel, redis, resources, workflows)"
    )


@pytest.mark.parametrize(
    ("load", "disable"),
    [
        ("", None),  # load nothing
        (None, None),  # neither set
        ("resources,audit", "otel"),
        ("llmgine-resources, LLMGINE_Audit", "llmgine.otel"),  # distribution names, any case
        (" , resources ,", ""),
    ],
)
def test_known_names_do_not_warn(
    monkeypatch: pytest.MonkeyPatch, load: str | None, disable: str | None
) -> None:
    for variable, value in (("LLMGINE_LOAD_PLUGINS", load), ("LLMGINE_DISABLE_PLUGINS", disable)):
        if value is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, value)
    assert typo_warnings(lambda: register_handlers(MessageBus.isolated())) == []


def test_the_cli_prints_them_as_one_line_each_for_other_subcommands(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Fine:
        @llmgine.hookimpl
        def register_cli(self, subparsers: Any) -> None:
            subparsers.add_parser("fine").set_defaults(func=lambda args: 0)

    register_plugin(Fine(), "fine")
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "resourcs")
    assert cli.main(["fine"]) == 0
    assert capsys.readouterr().err == (
        "llmgine: warning: LLMGINE_LOAD_PLUGINS names 'resourcs', which is not an installed "
        "plugin; did you mean 'resources'?\n"
    )
    assert cli.main(["plugins"]) == 0  # the listing shows them instead
    assert "llmgine: warning" not in capsys.readouterr().err
