"""Plugins installed by pip in a fresh venv: discovery, dispatch, failures and env filters."""

from __future__ import annotations

import json

import pytest

from .conftest import ROOT, PluginEnv, columns, make_venv, pip_install, write_plugin

pytestmark = pytest.mark.slow

GOOD = """\
import llmgine
from dataclasses import dataclass
from llmgine.messages.bus import message_bus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event
from llmgine.plugins import PluginStatus

@dataclass
class Ping(Command[str]):
    text: str

@dataclass
class Ponged(Event):
    event_type = "pong.sent"
    text: str

SEEN = []

def handle_ping(command):
    message_bus.add_pending_event(Ponged(command.text))
    return "pong: " + command.text

@llmgine.hookimpl
def register_commands(register):
    register(Ping, handle_ping)

@llmgine.hookimpl
def register_subscribers(subscribe):
    subscribe("pong.*", SEEN.append)

@llmgine.hookimpl
def plugin_status():
    return PluginStatus(active=True, detail="always on")
"""

DUPLICATE = """\
import llmgine
from llmgine_good import Ping

@llmgine.hookimpl
def register_commands(register):
    register(Ping, lambda command: "second handler")
"""

TYPO = """\
import llmgine
from llmgine.plugins import PluginStatus

@llmgine.hookimpl
def register_comands(register):
    pass

@llmgine.hookimpl
def plugin_status():
    return PluginStatus(active=True, detail="thinks it is fine")
"""

# Implements a hook that only the 'zzz-hookspecs' plugin (loaded after it) defines.
WIDGET_USER = """\
import llmgine

@llmgine.hookimpl
def register_widgets(add):
    add("gear")
"""

HOOKSPEC_ADDER = """\
import llmgine
from llmgine.plugins import get_plugin_manager

class Specs:
    @llmgine.hookspec
    def register_widgets(add):
        "Add widgets."

get_plugin_manager().add_hookspecs(Specs)
"""

DISPATCH = """\
import json
from llmgine.messages.bus import message_bus
from llmgine.messages.handlers import register_handlers
infos = register_handlers()
from llmgine_good import Ping, SEEN
result = message_bus.dispatch(Ping("hi"))
print(json.dumps({"plugins": [i.name for i in infos], "result": result,
                  "seen": [e.text for e in SEEN]}))
"""

LOADED = """\
import json
from llmgine.messages.handlers import register_handlers
print(json.dumps([i.name for i in register_handlers()]))
"""


@pytest.fixture(scope="session")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> PluginEnv:
    base = tmp_path_factory.mktemp("plugins")
    python = make_venv(base / "venv")
    sources = [
        write_plugin(base, "llmgine-good", GOOD, version="1.2.3"),
        write_plugin(base, "llmgine-broken", "import llmgine_does_not_exist\n"),
        write_plugin(base, "llmgine-dup", DUPLICATE),
        write_plugin(base, "llmgine-typo", TYPO),
        write_plugin(base, "llmgine-aaa-widgets", WIDGET_USER),
        write_plugin(base, "llmgine-zzz-hookspecs", HOOKSPEC_ADDER),
    ]
    # The core is named in the same pip command, so 'llmgine' resolves to it, not to PyPI.
    pip_install(python, ROOT, *sources)
    old = write_plugin(base, "llmgine-old", GOOD.replace("Ping", "OldPing"), requires="llmgine<0.1")
    pip_install(python, "--no-deps", old)  # pip itself would refuse the conflict
    # As `llmgine new-plugin` wrote it in 0.2: requires the core by its old name, which on
    # PyPI is the unrelated upstream project (so --no-deps, as the docs tell its users).
    legacy = write_plugin(
        base, "llmgine-legacy", GOOD.replace("Ping", "LegacyPing"), requires="llmgine>=0.2,<0.3"
    )
    pip_install(python, "--no-deps", legacy)
    # The same distribution a second time, on another sys.path entry.
    pip_install(python, "--no-deps", "--target", base / "again", sources[0])
    return PluginEnv(base, python)


def test_installed_plugin_is_discovered_and_dispatched_to(plugin_env: PluginEnv) -> None:
    out = plugin_env.run_json(DISPATCH, {"LLMGINE_LOAD_PLUGINS": "good"})
    assert out == {"plugins": ["good"], "result": "pong: hi", "seen": ["hi"]}


def test_cli_lists_plugin_with_version_and_what_it_provides(plugin_env: PluginEnv) -> None:
    done = plugin_env.cli("plugins", "--json", env={"LLMGINE_LOAD_PLUGINS": "good,broken"})
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    good = rows["good"]
    assert (good["distribution"], good["version"]) == ("llmgine-good", "1.2.3")
    assert good["commands"] == ["llmgine_good.Ping"]
    assert good["subscriptions"] == ["pong.*"]
    assert good["state"] == "active"
    assert {"register_commands", "register_subscribers", "plugin_status"} <= set(good["hooks"])
    # A broken plugin is reported, not fatal to the listing.
    assert rows["broken"]["state"] == "error"
    assert "llmgine_does_not_exist" in rows["broken"]["error"]

    text = plugin_env.cli("plugins", env={"LLMGINE_LOAD_PLUGINS": "good"})
    assert columns(text.stdout)["good"] == ["[active]", "llmgine-good", "1.2.3"]
    assert "commands: llmgine_good.Ping" in text.stdout


def test_broken_plugin_raises_plugin_load_error_naming_it(plugin_env: PluginEnv) -> None:
    done = plugin_env.run(LOADED, {"LLMGINE_LOAD_PLUGINS": "good,broken"})
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("llmgine.plugins.errors.PluginLoadError: plugin 'broken'")
    assert "(llmgine_broken) from llmgine-broken 0.0.1 failed to import" in last
    # The original exception is chained.
    assert "ModuleNotFoundError: No module named 'llmgine_does_not_exist'" in done.stderr
    assert "The above exception was the direct cause" in done.stderr


def test_lenient_mode_warns_and_loads_the_rest(plugin_env: PluginEnv) -> None:
    env = {"LLMGINE_LOAD_PLUGINS": "good,broken", "LLMGINE_PLUGINS_LENIENT": "1"}
    done = plugin_env.run(DISPATCH, env, check=True)
    assert json.loads(done.stdout)["result"] == "pong: hi"
    assert "RuntimeWarning: plugin 'broken'" in done.stderr
    assert "skipped: lenient mode" in done.stderr


def test_lenient_argument(plugin_env: PluginEnv) -> None:
    code = LOADED.replace("register_handlers()]", "register_handlers(lenient=True) if not i.error]")
    out = plugin_env.run_json(code, {"LLMGINE_LOAD_PLUGINS": "good,broken"})
    assert out == ["good"]


def test_disable_blocks_plugins_before_import(plugin_env: PluginEnv) -> None:
    # by entry-point name and by distribution name, compared after PEP 503 normalization
    disabled = "broken,LLMGINE_DUP,typo,llmgine.old,aaa-widgets,zzz_hookspecs,legacy"
    out = plugin_env.run_json(LOADED, {"LLMGINE_DISABLE_PLUGINS": disabled})
    assert out == ["good"]


def test_cli_lists_excluded_plugins_as_disabled_without_importing_them(
    plugin_env: PluginEnv,
) -> None:
    env = {"LLMGINE_LOAD_PLUGINS": "good,broken,old", "LLMGINE_DISABLE_PLUGINS": "broken,old"}
    done = plugin_env.cli("plugins", "--json", env=env)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    # every installed plugin, in load order
    names = ["aaa-widgets", "broken", "dup", "good", "legacy", "old", "typo", "zzz-hookspecs"]
    assert [row["name"] for row in rows] == names
    by_name = {row["name"]: row for row in rows}
    assert by_name["good"]["state"] == "active"
    assert by_name["good"]["disabled_by"] is None
    # Importing 'broken' fails and 'old' requires another core: either would be an error
    # row had it been imported or checked. Disabled, only its metadata is shown.
    broken = by_name["broken"]
    assert broken["state"] == "disabled"
    assert broken["disabled_by"] == "LLMGINE_DISABLE_PLUGINS"
    assert (broken["distribution"], broken["version"]) == ("llmgine-broken", "0.0.1")
    assert (broken["module"], broken["error"], broken["hooks"]) == ("llmgine_broken", None, [])
    assert by_name["old"]["state"] == "disabled"
    assert by_name["old"]["error"] is None
    assert by_name["dup"]["state"] == "disabled"
    assert by_name["dup"]["disabled_by"] == "LLMGINE_LOAD_PLUGINS"

    text = plugin_env.cli("plugins", env=env).stdout
    assert columns(text)["broken"] == ["[disabled]", "llmgine-broken", "0.0.1"]
    assert "  disabled: blocked by LLMGINE_DISABLE_PLUGINS (not imported)\n" in text
    assert columns(text)["dup"] == ["[disabled]", "llmgine-dup", "0.0.1"]
    assert "  disabled: not selected by LLMGINE_LOAD_PLUGINS (not imported)\n" in text
    assert columns(text)["good"] == ["[active]", "llmgine-good", "1.2.3"]


def test_load_selects_plugins_and_empty_loads_none(plugin_env: PluginEnv) -> None:
    assert plugin_env.run_json(LOADED, {"LLMGINE_LOAD_PLUGINS": ""}) == []
    env = {"LLMGINE_LOAD_PLUGINS": "good,broken", "LLMGINE_DISABLE_PLUGINS": "broken"}
    assert plugin_env.run_json(LOADED, env) == ["good"]  # DISABLE wins over LOAD


def test_incompatible_core_requirement_names_both_versions(plugin_env: PluginEnv) -> None:
    done = plugin_env.run(LOADED, {"LLMGINE_LOAD_PLUGINS": "old"})
    assert done.returncode == 1
    assert "IncompatiblePluginError: plugin 'old'" in done.stderr
    assert "requires llmgine<0.1 but the installed core is llmgine-messages 0.2.1" in done.stderr
    lenient = plugin_env.run(
        LOADED, {"LLMGINE_LOAD_PLUGINS": "old,good", "LLMGINE_PLUGINS_LENIENT": "1"}
    )
    assert lenient.returncode == 0
    assert json.loads(lenient.stdout) == ["good", "old"]  # listed, with its error
    assert "requires llmgine<0.1" in lenient.stderr


def test_a_requirement_on_the_old_name_loads_with_a_future_warning(plugin_env: PluginEnv) -> None:
    done = plugin_env.run(LOADED, {"LLMGINE_LOAD_PLUGINS": "legacy"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["legacy"]
    assert "FutureWarning: plugin 'legacy'" in done.stderr
    assert "requires llmgine<0.3,>=0.2, the core's old distribution name" in done.stderr
    assert "should require llmgine-messages<0.3,>=0.2 instead" in done.stderr
    # The warning points at the application's call of register_handlers(), not at llmgine.
    [where] = [line for line in done.stderr.splitlines() if "FutureWarning" in line]
    assert where.startswith("<string>:"), where
    # `llmgine plugins` lists it as active and says why it warns.
    listed = plugin_env.cli("plugins", env={"LLMGINE_LOAD_PLUGINS": "legacy"})
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if line.startswith("legacy ")]
    assert "[active]" in row
    assert "llmgine: warning: plugin 'legacy'" in listed.stderr


def test_a_requirement_on_the_old_name_that_excludes_the_core_is_refused(
    plugin_env: PluginEnv,
) -> None:
    done = plugin_env.run(LOADED, {"LLMGINE_LOAD_PLUGINS": "old"})
    assert done.returncode == 1
    assert "FutureWarning" not in done.stderr  # refused, so not "it is loaded"


def test_unknown_hook_names_plugin_and_hook(plugin_env: PluginEnv) -> None:
    done = plugin_env.run(LOADED, {"LLMGINE_LOAD_PLUGINS": "typo"})
    assert done.returncode == 1
    assert "plugin 'typo' from llmgine-typo 0.0.1 implements unknown hook 'register_comands'" in (
        done.stderr
    )


def test_cli_shows_a_plugin_that_failed_its_checks_as_an_error_whatever_its_status_says(
    plugin_env: PluginEnv,
) -> None:
    done = plugin_env.cli("plugins", "--json", env={"LLMGINE_LOAD_PLUGINS": "typo"})
    (row,) = [row for row in json.loads(done.stdout) if row["state"] != "disabled"]
    assert row["state"] == "error"
    assert "register_comands" in row["error"]
    assert row["detail"] == "thinks it is fine"  # still shown, below the error
    text = plugin_env.cli("plugins", env={"LLMGINE_LOAD_PLUGINS": "typo"})
    assert columns(text.stdout)["typo"] == ["[error]", "llmgine-typo", "0.0.1"]


def test_hookspec_added_by_a_later_plugin_is_known(plugin_env: PluginEnv) -> None:
    both = {"LLMGINE_LOAD_PLUGINS": "aaa-widgets,zzz-hookspecs"}
    code = """\
        import json
        from llmgine.plugins import get_plugin_manager, register_handlers
        register_handlers()
        widgets = []
        get_plugin_manager().hook.register_widgets(add=widgets.append)
        print(json.dumps(widgets))
    """
    assert plugin_env.run_json(code, both) == ["gear"]
    alone = plugin_env.run(LOADED, {"LLMGINE_LOAD_PLUGINS": "aaa-widgets"})
    assert "unknown hook 'register_widgets'" in alone.stderr


def test_two_plugins_for_one_command_name_both(plugin_env: PluginEnv) -> None:
    done = plugin_env.run(LOADED, {"LLMGINE_LOAD_PLUGINS": "good,dup"})
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "command llmgine_good.Ping already has a handler" in last
    assert "(from plugin 'dup')" in last
    assert "(from plugin 'good')" in last


def test_distribution_visible_twice_on_sys_path_loads_once(plugin_env: PluginEnv) -> None:
    env = {"LLMGINE_LOAD_PLUGINS": "good", "PYTHONPATH": str(plugin_env.root / "again")}
    out = plugin_env.run_json(DISPATCH, env)
    assert out == {"plugins": ["good"], "result": "pong: hi", "seen": ["hi"]}


def test_plugins_load_in_a_documented_order(plugin_env: PluginEnv) -> None:
    env = {"LLMGINE_LOAD_PLUGINS": "zzz-hookspecs,good,aaa-widgets"}
    # sorted by distribution name, then entry-point name
    assert plugin_env.run_json(LOADED, env) == ["aaa-widgets", "good", "zzz-hookspecs"]


def test_core_in_the_venv_is_ours_and_typed(plugin_env: PluginEnv) -> None:
    # PyPI's unrelated 'llmgine' is 0.0.1 and has no py.typed.
    out = plugin_env.run_json(
        "import json, llmgine, pathlib; print(json.dumps([llmgine.__version__, "
        "(pathlib.Path(llmgine.__file__).parent / 'py.typed').exists()]))"
    )
    assert out == ["0.2.1", True]
