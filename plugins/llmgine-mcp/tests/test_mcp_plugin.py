"""Idle until asked: installing or loading the plugin adds nothing to a bus; its status says
how to use it; ``llmgine mcp serve`` is its subcommand; the SDK is imported only to serve."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import llmgine_mcp
import pytest
from llmgine.cli import main
from llmgine.messages.bus import MessageBus
from llmgine.plugins import PluginHost, PluginStatus, get_plugin_host, use_plugin_host
from llmgine.testing import LoadPlugin
from llmgine_mcp import plugin as mcp_plugin


def nothing_on(bus: MessageBus) -> None:
    assert bus.subscriptions == ()
    assert bus.command_handlers() == {}
    assert (bus.middleware.command, bus.middleware.event) == ((), ())


def test_its_status_is_idle_and_says_how_to_use_it() -> None:
    assert mcp_plugin.plugin_status() == PluginStatus(
        active=False,
        detail="adds nothing to the bus; serves a Toolbox over stdio only when asked",
        activate="run `llmgine mcp serve MODULE:ATTRIBUTE` (naming an llmgine.tools.Toolbox) "
        "as an MCP client's server command",
    )


def test_loaded_as_register_handlers_loads_it_it_adds_nothing_to_the_bus(
    llmgine_bus: MessageBus, llmgine_load_plugin: LoadPlugin
) -> None:
    llmgine_load_plugin(mcp_plugin)
    nothing_on(llmgine_bus)


def test_install_registers_it_on_the_bus_and_adds_nothing_there() -> None:
    bus = MessageBus.isolated(strict=True)
    with use_plugin_host(PluginHost()):  # (a host of its own: the test's plugins stay apart)
        info = llmgine_mcp.install(bus)
        assert (info.name, info.error) == ("mcp", None)
        assert llmgine_mcp.install(bus) == info  # idempotent
        assert get_plugin_host().registered_on(bus) == ["mcp"]
    nothing_on(bus)
    bus.close()


def test_the_installed_entry_point_is_discoverable() -> None:
    found = {ep.name: ep for ep in entry_points(group="llmgine.plugins")}
    assert found["mcp"].value == "llmgine_mcp.plugin"
    assert found["mcp"].dist is not None
    assert found["mcp"].dist.metadata["Name"] == "llmgine-mcp"
    assert found["mcp"].load() is mcp_plugin


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="llmgine")
    mcp_plugin.register_cli(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_mcp_serve_takes_the_spec_and_its_options() -> None:
    args = parse("mcp", "serve", "app.tools:toolbox")
    assert (args.spec, args.app_dir, args.name, args.register_handlers) == (
        "app.tools:toolbox",
        Path("."),
        "llmgine",
        True,
    )
    args = parse(
        "mcp", "serve", "app:make", "--app-dir", "/srv/app", "--name", "app",
        "--no-register-handlers",
    )  # fmt: skip
    assert (args.spec, args.app_dir, args.name, args.register_handlers) == (
        "app:make",
        Path("/srv/app"),
        "app",
        False,
    )


def test_mcp_alone_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("mcp")
    assert args.func(args) == 0
    assert "serve a Toolbox over stdio until the client disconnects" in capsys.readouterr().out


def test_a_bad_spec_is_one_line_on_stderr_and_status_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # --app-dir goes onto it
    status = main(["mcp", "serve", "mcp_no_such_app:toolbox", "--app-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert (status, out) == (1, "")
    assert err.splitlines()[-1] == (
        "llmgine mcp: mcp_no_such_app:toolbox: there is no module 'mcp_no_such_app' (no module "
        "named 'mcp_no_such_app'); run from the directory that holds it, pass --app-dir, or "
        "install it"
    )
    assert sys.path[0] == str(tmp_path)


def test_loading_the_plugin_does_not_import_the_mcp_sdk() -> None:
    # every `llmgine` command loads the installed plugins: the SDK would cost each one
    program = "import llmgine_mcp.plugin, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types')))"  # noqa: E501
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
    assert "serve" in dir(llmgine_mcp)
    assert llmgine_mcp.serve.__module__ == "llmgine_mcp._server"
    with pytest.raises(AttributeError, match="has no attribute 'serv'"):
        _ = llmgine_mcp.serv  # type: ignore[attr-defined]
