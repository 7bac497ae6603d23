"""``llmgine new-plugin``: names, refusals, and what it writes (installation: test_guide.py)."""

from __future__ import annotations

import tomllib
from inspect import signature
from pathlib import Path

import pytest
from llmgine import __version__
from llmgine._scaffold import ScaffoldError, core_requirement, plugin_names, render_plugin
from llmgine.cli import main
from llmgine.messages import MessageBus
from llmgine.messages.errors import MessageBusException
from llmgine.plugins import get_message_catalog, register_handlers
from llmgine.testing import LoadPlugin

from .test_guide import GUIDE, Command, guide_steps


def test_names_derive_from_the_plugin_name() -> None:
    assert plugin_names("llmgine-slack_notify") == {
        "name": "slack-notify",
        "dist": "llmgine-slack-notify",
        "package": "llmgine_slack_notify",
        "Class": "SlackNotify",
        "title": "Slack notify",
        "UPPER": "SLACK_NOTIFY",
    }


def test_the_core_requirement_is_the_running_minor_series() -> None:
    assert core_requirement("0.2.1") == "llmgine-messages>=0.2,<0.3"
    assert core_requirement("1.9.3") == "llmgine-messages>=1.9,<1.10"


@pytest.mark.parametrize("bad", ["", "9lives", "has space", "dots.in.it", "trailing-", "x!"])
def test_unusable_names_are_refused(bad: str) -> None:
    with pytest.raises(ScaffoldError, match="must be lowercase letters and digits"):
        plugin_names(bad)


def test_cli_writes_a_distribution_with_an_entry_point(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out"
    assert main(["new-plugin", "greeter", "--dir", str(target)]) == 0
    assert f"is in {target}" in capsys.readouterr().out
    meta = tomllib.loads((target / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "llmgine-greeter"
    assert meta["project"]["dependencies"] == [core_requirement(__version__)]
    assert meta["project"]["entry-points"]["llmgine.plugins"] == {
        "greeter": "llmgine_greeter.plugin"
    }
    assert (target / "llmgine_greeter" / "py.typed").exists()
    test_code = (target / "tests" / "test_llmgine_greeter.py").read_text()
    assert "llmgine_load_plugin" in test_code
    assert "$" not in (target / "llmgine_greeter" / "plugin.py").read_text()
    # Its README's develop step installs the core in the same pip command, as the guide does.
    assert 'pip install "$LLMGINE" -e ".[test]"' in (target / "README.md").read_text()


def test_next_steps_are_the_guides_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `pip install -e ".[test]"` alone fails in a fresh venv (PyPI's "llmgine" is another
    # project): the hint must install the core in the same command, as the guide does.
    monkeypatch.chdir(tmp_path)
    assert main(["new-plugin", "greeter"]) == 0
    out = capsys.readouterr().out
    hint = [line.strip() for line in out.split("Next:\n", 1)[1].splitlines()]
    guide = [step.line for step in guide_steps(GUIDE.read_text()) if isinstance(step, Command)]
    # from entering the plugin's directory to listing it with `llmgine plugins`
    steps = guide[guide.index("cd llmgine-greeter") : guide.index(".venv/bin/llmgine plugins") + 1]
    assert any('"$LLMGINE"' in step and "pip install" in step for step in steps)
    assert hint[: len(steps)] == steps
    assert "LLMGINE" in " ".join(hint[len(steps) :])  # and says what LLMGINE is


def test_generated_plugin_loads_and_handles_its_command(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    llmgine_bus: MessageBus,
    llmgine_load_plugin: LoadPlugin,
) -> None:
    render_plugin("round-trip", tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    from llmgine_round_trip import EchoRoundTrip, plugin  # type: ignore[import-not-found]

    llmgine_load_plugin(plugin)
    assert llmgine_bus.dispatch(EchoRoundTrip(text="x")) == "x"


@pytest.mark.usefixtures("no_installed_plugins")
def test_generated_plugin_follows_the_plugin_conventions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llmgine_bus: MessageBus
) -> None:
    render_plugin("conventional", tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("LLMGINE_CONVENTIONAL_PREFIX", "env: ")
    import llmgine_conventional as package  # type: ignore[import-not-found]
    from llmgine_conventional import errors, plugin  # type: ignore[import-not-found]

    # A public errors module: every exception is a MessageBusException, re-exported.
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), MessageBusException)
        assert getattr(package, name) is getattr(errors, name)
    # Typed hooks, register_messages among them.
    hooks = {n: f for n, f in vars(plugin).items() if hasattr(f, "llmgine_impl")}
    assert {"register_commands", "register_messages", "startup"} <= set(hooks)
    for function in hooks.values():
        assert all(p.annotation is not p.empty for p in signature(function).parameters.values())
    # install(bus, **settings): kept on that bus; register_handlers() neither registers it
    # twice nor overrides the settings; without install, the environment's settings.
    info = package.install(llmgine_bus, prefix="> ", shout=True)
    assert info.name == "conventional"
    assert info.messages == (
        "llmgine_conventional.messages.EchoConventional",
        "conventional.ConventionalEchoed",
    )
    register_handlers(llmgine_bus)
    assert llmgine_bus.dispatch(package.EchoConventional(text="hi")) == "> HI"
    other = MessageBus.isolated()
    register_handlers(other)
    assert other.dispatch(package.EchoConventional(text="hi")) == "env: hi"
    other.close()
    catalog = get_message_catalog()
    assert catalog.class_of("conventional.ConventionalEchoed") is package.ConventionalEchoed


def test_refuses_a_non_empty_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["new-plugin", "greeter", "--dir", str(tmp_path)]) == 2
    assert "already exists and is not an empty directory" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    assert main(["new-plugin", "Bad Name"]) == 2
