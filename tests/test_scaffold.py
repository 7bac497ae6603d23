"""``llmgine new-plugin``: names, refusals, and what it writes (installation: test_guide.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from llmgine._scaffold import ScaffoldError, plugin_names, render_plugin
from llmgine.cli import main


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
