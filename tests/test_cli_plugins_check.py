"""``llmgine plugins`` and ``llmgine plugins --check``: plugins in error and unknown names
in ``LLMGINE_LOAD_PLUGINS`` / ``LLMGINE_DISABLE_PLUGINS`` are shown, and fail the check.

The shipped plugins (audit, mcp, otel, redis, resources, workflows) are installed in the
test environment; each test gets a plugin host of its own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import llmgine
import pytest
from llmgine import cli
from llmgine.plugins import register_plugin

from .fake_dists import install_fake_plugin

#: The keys of a row before --check existed; a consumer of --json may rely on each.
ROW_KEYS = {
    "name",
    "distribution",
    "version",
    "module",
    "hooks",
    "messages",
    "commands",
    "subscriptions",
    "state",
    "error",
    "activate",
    "disabled_by",
}


@pytest.fixture(autouse=True)
def _fresh_host(no_installed_plugins: None) -> None:
    """Before any other fixture: a fresh host that loads no installed plugin unless told."""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = cli.main(["plugins", *args])
    out, err = capsys.readouterr()
    return status, out, err


def rows_of(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    status, out, _ = run(capsys, "--json", *args)
    rows = json.loads(out)
    assert isinstance(rows, list)  # the --json form of every release: a list of rows
    return status, {row["name"]: row for row in rows}


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An installed plugin 'broken' whose module does not exist, selected to load."""
    install_fake_plugin(monkeypatch, tmp_path, "broken", None)
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "broken")


def test_check_passes_and_says_so_when_nothing_is_wrong(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(capsys, "--check")
    assert status == 0
    assert re.fullmatch(
        r"ok: \d+ plugins installed, none in error; no unknown names in "
        r"LLMGINE_LOAD_PLUGINS or LLMGINE_DISABLE_PLUGINS\n",
        out,
    )
    assert err == ""
    assert run(capsys)[0] == 0
    assert "problems:" not in run(capsys)[1]


@pytest.mark.usefixtures("broken")
def test_a_plugin_in_error_fails_the_check_and_says_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "--check")
    assert status == 1
    assert out == (
        "plugin 'broken' (llmgine_broken) from llmgine-broken 0.0.1 failed to import: "
        "ModuleNotFoundError: No module named 'llmgine_broken'\n"
    )


@pytest.mark.usefixtures("broken")
def test_the_listing_shows_the_error_and_a_summary_but_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys)
    assert status == 0
    assert "\nbroken     [error]     llmgine-broken 0.0.1\n  error: plugin 'broken'" in out
    assert out.endswith("\nproblems: 1 plugin in error (llmgine plugins --check exits 1 on them)\n")


@pytest.mark.usefixtures("broken")
def test_json_check_prints_the_rows_and_the_problems_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(capsys, "--json", "--check")
    assert status == 1
    (row,) = [row for row in json.loads(out) if row["name"] == "broken"]
    assert row["state"] == "error"
    assert err == (
        "llmgine plugins: plugin 'broken' (llmgine_broken) from llmgine-broken 0.0.1 "
        "failed to import: ModuleNotFoundError: No module named 'llmgine_broken'\n"
    )
    assert run(capsys, "--json")[0] == 0  # without --check, the listing never fails


def test_a_broken_register_cli_hook_fails_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    class CliRaises:
        @llmgine.hookimpl
        def register_cli(self, subparsers: Any) -> None:
            raise RuntimeError("cli boom")

    register_plugin(CliRaises(), "cli-raises")
    status, out, _ = run(capsys, "--check")
    assert status == 1
    assert "plugin 'cli-raises' failed in its register_cli hook: RuntimeError: cli boom" in out


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        (
            "LLMGINE_LOAD_PLUGINS",
            "resourcs",
            "'resourcs', which is not an installed plugin; did you mean 'resources'?",
        ),
        (
            "LLMGINE_DISABLE_PLUGINS",
            "oetl",
            "'oetl', which is not an installed plugin; did you mean 'otel'?",
        ),
        (
            "LLMGINE_DISABLE_PLUGINS",
            "*",
            "'*', which is not a plugin name; the variable takes comma-separated plugin names",
        ),
    ],
)
def test_an_unknown_name_fails_the_check_naming_the_variable_and_the_closest_name(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    problem: str,
) -> None:
    monkeypatch.setenv(variable, value)
    status, out, _ = run(capsys, "--check")
    assert status == 1
    assert out.startswith(f"{variable} names {problem}")
    status, rows = rows_of(capsys)
    assert status == 0
    row = rows[value]
    assert (row["state"], row["unknown_in"]) == ("unknown", variable)
    assert row["error"] == out.strip()
    assert row["suggestion"] == {"resourcs": "resources", "oetl": "otel", "*": None}[value]


def test_names_match_entry_point_or_distribution_names_after_normalization(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "Resources, llmgine_AUDIT,")
    monkeypatch.setenv("LLMGINE_DISABLE_PLUGINS", "llmgine.otel")
    status, out, _ = run(capsys, "--check")
    assert (status, out.startswith("ok: ")) == (0, True)


def test_the_listing_shows_unknown_names_after_the_plugins(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "resourcs,zzz-nothing-like-it")
    status, out, _ = run(capsys)
    assert status == 0
    assert out.endswith(
        "resourcs             [unknown]   not installed\n"
        "  error: LLMGINE_LOAD_PLUGINS names 'resourcs', which is not an installed plugin; "
        "did you mean 'resources'?\n"
        "zzz-nothing-like-it  [unknown]   not installed\n"
        "  error: LLMGINE_LOAD_PLUGINS names 'zzz-nothing-like-it', which is not an installed "
        "plugin (installed: audit, mcp, otel, redis, resources, workflows)\n"
        "\n"
        "problems: 2 unknown names (llmgine plugins --check exits 1 on them)\n"
    )


def test_listing_columns_are_aligned(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install_fake_plugin(monkeypatch, tmp_path, "a-long-plugin-name", None)
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "resources,a-long-plugin-name")
    _, out, _ = run(capsys)
    rows = [line for line in out.splitlines() if line and not line.startswith(("  ", "problems"))]
    assert len(rows) >= 6
    states = {line.index("[") for line in rows}
    dists = {line.index("llmgine-") for line in rows}
    assert (states, dists) == ({len("a-long-plugin-name") + 2}, {len("a-long-plugin-name") + 14})
    assert "resources           [active]    llmgine-resources " in out


def test_json_rows_keep_their_keys_and_add_the_unknown_ones(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "resources,resourcs")
    _, rows = rows_of(capsys)
    assert set(rows) >= {"audit", "resources", "resourcs"}
    for row in rows.values():
        assert ROW_KEYS | {"unknown_in", "suggestion"} <= set(row)
    assert (rows["resources"]["unknown_in"], rows["resources"]["suggestion"]) == (None, None)
    assert list(rows)[-1] == "resourcs"  # after every installed plugin
