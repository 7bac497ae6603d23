"""Installed plugins that misbehave: each error names the plugin, every time it matters.

Complements test_installed_plugins.py (whose environment the DISABLE test lists in
full) with a venv of its own.
"""

from __future__ import annotations

import json

import pytest

from .conftest import ROOT, PluginEnv, columns, make_venv, pip_install, write_plugin

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

CUSTOM_BASE = """\
class Careless(BaseException):
    pass

raise Careless("not an Exception")
"""

GENERATOR_EXIT = """\
raise GeneratorExit("closed at import")
"""

INTERRUPTS = """\
raise KeyboardInterrupt
"""

STATUS_BASE = """\
import llmgine

class Careless(BaseException):
    pass

@llmgine.hookimpl
def plugin_status():
    raise Careless("status is not an Exception")
"""

# Two plugins that each name a class of their own "shared.Thing": a clash.
WIRE = """\
from dataclasses import dataclass

import llmgine
from llmgine.messages.events import Event

@dataclass
class Thing(Event):
    event_type = "thing.happened"

@llmgine.hookimpl
def register_messages(register):
    register(Thing, "shared.Thing")
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
        write_plugin(base, "llmgine-custom-base", CUSTOM_BASE),
        write_plugin(base, "llmgine-generator-exit", GENERATOR_EXIT),
        write_plugin(base, "llmgine-interrupts", INTERRUPTS),
        write_plugin(base, "llmgine-status-base", STATUS_BASE),
        write_plugin(base, "llmgine-wire-a", WIRE),
        write_plugin(base, "llmgine-wire-b", WIRE),
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
    assert columns(done.stdout)["exits"] == ["[error]", "llmgine-exits", "0.0.1"]
    assert "SystemExit: install the frobnicator first" in done.stdout
    assert columns(done.stdout)["ping"][0] == "[active]"
    strict = failing_env.run(REGISTER, env)
    last = strict.stderr.strip().splitlines()[-1]
    assert last.startswith("llmgine.plugins.errors.PluginLoadError: plugin 'exits'")


@pytest.mark.parametrize(
    ("plugin", "dist", "problem"),
    [
        ("custom-base", "llmgine-custom-base", "failed to import: Careless: not an Exception"),
        ("generator-exit", "llmgine-generator-exit", "failed to import: GeneratorExit"),
        (
            "status-base",
            "llmgine-status-base",
            "failed in its plugin_status hook: Careless: status is not an Exception",
        ),
    ],
)
def test_a_plugin_raising_a_base_exception_is_its_load_error_and_listed_as_an_error(
    failing_env: PluginEnv, plugin: str, dist: str, problem: str
) -> None:
    env = {"LLMGINE_LOAD_PLUGINS": f"{plugin},ping"}
    done = failing_env.cli("plugins", env=env)
    assert done.returncode == 0, done.stderr
    assert columns(done.stdout)[plugin] == ["[error]", dist, "0.0.1"]
    assert problem in done.stdout
    assert columns(done.stdout)["ping"][0] == "[active]"
    code = """\
        import json
        from llmgine.plugins import PluginLoadError, register_handlers
        try:
            register_handlers()
        except PluginLoadError as error:
            print(json.dumps([error.plugin, error.distribution, str(error)]))
    """
    name, distribution, message = failing_env.run_json(code, env)  # type: ignore[misc]
    assert (name, distribution) == (plugin, dist)
    assert problem in message


def test_keyboard_interrupt_at_import_is_not_a_plugin_failure(failing_env: PluginEnv) -> None:
    done = failing_env.run(REGISTER, {"LLMGINE_LOAD_PLUGINS": "interrupts"})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == "KeyboardInterrupt"


def test_a_wire_name_claimed_by_two_plugins_is_a_load_error_naming_both(
    failing_env: PluginEnv,
) -> None:
    env = {"LLMGINE_LOAD_PLUGINS": "wire-a,wire-b"}
    strict = failing_env.run(REGISTER, env)
    last = strict.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "llmgine.plugins.errors.PluginLoadError: plugin 'wire-b' from llmgine-wire-b 0.0.1 "
        "claims a wire name in its register_messages hook"
    )
    assert "plugin 'wire-a' from llmgine-wire-a 0.0.1" in last
    # The listing keeps the first plugin's messages and shows the second as an error.
    done = failing_env.cli("plugins", "--json", env=env)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert rows["wire-a"]["messages"] == ["shared.Thing"]
    assert rows["wire-b"]["state"] == "error"
    assert "'shared.Thing'" in rows["wire-b"]["error"]
    text = failing_env.cli("plugins", env={"LLMGINE_LOAD_PLUGINS": "wire-a"}).stdout
    assert "  messages: shared.Thing\n" in text
