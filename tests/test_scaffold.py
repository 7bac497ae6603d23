"""``llmgine new-plugin``: names, refusals, and what it writes (installation: test_guide.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from llmgine._scaffold import ScaffoldError, plugin_names, render_plugin
from llmgine.cli import main

from .test_guide import GUIDE, Command, guide_steps


def test_names_derive_from_the_plugin_name() -> None:
    assert plugin_names("llmgine-slack_notify") == {
        "name": "slack-notify",
        "dist": "llmgine-slack-notify",
        "package": "llmgine_slack_notify",
        "Class": "SlackNotify",
        "title": "Slack notify",
    }


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
    assert meta["project"]["dependencies"] == ["llmgine>=0.1,<0.2"]
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
    llmgine_bus: object,
    llmgine_load_plugin: object,
) -> None:
    render_plugin("round-trip", tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    from llmgine_round_trip import EchoRoundTrip, plugin  # type: ignore[import-not-found]

    llmgine_load_plugin(plugin)
    assert llmgine_bus.dispatch(EchoRoundTrip(text="x")) == "x"


def test_refuses_a_non_empty_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["new-plugin", "greeter", "--dir", str(tmp_path)]) == 2
    assert "already exists and is not an empty directory" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    assert main(["new-plugin", "Bad Name"]) == 2
