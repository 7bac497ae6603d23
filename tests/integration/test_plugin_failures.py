"""Installed plugins that misbehave: each error names the plugin, every time it matters.

Complements test_installed_plugins.py (whose environment the DISABLE test lists in
full) with a venv of its own.
"""

from __future__ import annotations

import json

import pytest

from .conftest import ROOT, PluginEnv, make_venv, pip_install, write_plugin

pytestmark = pytest.mark.slow

PING = """\
import llmgine
from dataclasses import dataclass
from llmgine.messages.commands import Command

@dataclass
class Ping(Command[str]):
    text: str

@llmgine.hookimpl
def register_commands(register):
    register(Ping, lambda command: "pong")
"""

SECOND_PING = """\
import llmgine
from llmgine_ping import Ping

@llmgine.hookimpl
def register_commands(register):
    register(Ping, lambda command: "second handler")
"""

TYPO = """\
import llmgine

@llmgine.hookimpl
def register_comands(register):
    pass
"""

REGISTER = "from llmgine.plugins import register_handlers; register_handlers()"

EXITS = """\
import sys
sys.exit("install the frobnicator first")
"""


@pytest.fixture(scope="session")
def failing_env(tmp_path_factory: pytest.TempPathFactory) -> PluginEnv:
    base = tmp_path_factory.mktemp("failing-plugins")
    python = make_venv(base / "venv")
    sources = [
        write_plugin(base, "llmgine-ping", PING),
        write_plugin(base, "llmgine-second-ping", SECOND_PING),
        write_plugin(base, "llmgine-typo", TYPO),
        write_plugin(base, "llmgine-exits", EXITS),
    ]
    pip_install(python, ROOT, *sources)
    return PluginEnv(base, python)


def test_an_unknown_hook_is_an_error_on_every_call_not_only_the_first(
    failing_env: PluginEnv,
) -> None:
    code = """\
        import json
        from llmgine.plugins import PluginLoadError, register_handlers
        errors = []
        for lenient in (False, False):
            try:
                infos = register_handlers(lenient=lenient)
            except PluginLoadError as error:
                errors.append(error.plugin)
            else:
                errors.append([[i.name, i.error] for i in infos])
        print(json.dumps(errors))
    """
    assert failing_env.run_json(code, {"LLMGINE_LOAD_PLUGINS": "typo"}) == ["typo", "typo"]


def test_lenient_after_a_strict_failure_still_reports_the_unknown_hook(
    failing_env: PluginEnv,
) -> None:
    code = """\
        import json, warnings
        from llmgine.plugins import PluginLoadError, register_handlers
        try:
            register_handlers()
        except PluginLoadError:
            pass
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            infos = register_handlers(lenient=True)
        print(json.dumps({"error": infos[0].error, "warned": [str(w.message) for w in caught]}))
    """
    out = failing_env.run_json(code, {"LLMGINE_LOAD_PLUGINS": "typo"})
    assert isinstance(out, dict)
    assert "unknown hook 'register_comands'" in out["error"]
    assert any("'typo'" in warning for warning in out["warned"])


def test_cli_shows_the_second_plugin_for_a_command_as_an_error(failing_env: PluginEnv) -> None:
    env = {"LLMGINE_LOAD_PLUGINS": "ping,second-ping"}
    # What register_handlers() refuses ...
    refused = failing_env.run(REGISTER, env)
    assert "(from plugin 'second-ping')" in refused.stderr
    # ... `llmgine plugins` shows: the plugin loaded second is the one in error.
    done = failing_env.cli("plugins", "--json", env=env)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert rows["ping"]["state"] == "active"
    assert rows["second-ping"]["state"] == "error"
    assert "llmgine_ping.Ping" in rows["second-ping"]["error"]
    assert "plugin 'ping'" in rows["second-ping"]["error"]


def test_a_plugin_that_exits_at_import_is_a_load_error_naming_it(failing_env: PluginEnv) -> None:
    env = {"LLMGINE_LOAD_PLUGINS": "exits,ping"}
    done = failing_env.cli("plugins", env=env)
    assert done.returncode == 0, done.stderr
    assert "exits  [error]  llmgine-exits 0.0.1" in done.stdout
    assert "SystemExit: install the frobnicator first" in done.stdout
    assert "ping  [active]" in done.stdout
    strict = failing_env.run(REGISTER, env)
    last = strict.stderr.strip().splitlines()[-1]
    assert last.startswith("llmgine.plugins.errors.PluginLoadError: plugin 'exits'")
