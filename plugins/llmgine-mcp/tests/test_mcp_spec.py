"""``load_toolbox("MODULE:ATTRIBUTE")``: the toolbox, a function returning one, and every
way a spec can name no toolbox, each a ToolboxSpecError saying what is wrong."""

from __future__ import annotations

import itertools
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from llmgine.messages.errors import MessageBusException
from llmgine_mcp import ToolboxSpecError, load_toolbox

APP = '''
from dataclasses import dataclass

from llmgine.messages import Command, MessageBus
from llmgine.tools import Toolbox


@dataclass
class Ping(Command[str]):
    """Answer pong."""


bus = MessageBus.isolated()
toolbox = Toolbox([Ping], bus=bus)
calls = []


def make_toolbox():
    calls.append(1)
    return Toolbox([Ping], bus=bus)


class tools:
    toolbox = toolbox


def fails():
    raise RuntimeError("no database")


def returns_none():
    return None


number = 3
'''

_serial = itertools.count()


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Write a module with ``source`` on sys.path; return its (unique) name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(source: str) -> str:
        name = f"mcp_spec_app_{next(_serial)}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def test_a_toolbox_attribute_is_returned(app: Callable[[str], str]) -> None:
    name = app(APP)
    toolbox = load_toolbox(f"{name}:toolbox")
    assert toolbox is sys.modules[name].toolbox
    assert toolbox.names == ("ping",)


def test_a_callable_is_called_once_and_its_toolbox_returned(app: Callable[[str], str]) -> None:
    name = app(APP)
    toolbox = load_toolbox(f" {name}:make_toolbox ")  # (spaces around are forgiven)
    module = sys.modules[name]
    assert module.calls == [1]
    assert toolbox.names == ("ping",)
    assert toolbox.bus is module.bus


def test_a_dotted_attribute_reaches_a_nested_toolbox(app: Callable[[str], str]) -> None:
    name = app(APP)
    assert load_toolbox(f"{name}:tools.toolbox") is sys.modules[name].toolbox


def bad(spec: str) -> str:
    with pytest.raises(ToolboxSpecError) as caught:
        load_toolbox(spec)
    return str(caught.value)


@pytest.mark.parametrize("spec", ["weather_tools", "weather_tools:", ":toolbox", "a b:c", ""])
def test_a_spec_that_is_not_module_colon_attribute_says_the_form(spec: str) -> None:
    assert bad(spec) == (
        f"{spec!r} is not MODULE:ATTRIBUTE (e.g. myapp.tools:toolbox): name the module "
        "that holds the toolbox, a colon, and the toolbox (or a function returning one)"
    )


def test_a_missing_module_says_where_to_look() -> None:
    assert bad("mcp_no_such_module.sub:toolbox") == (
        "mcp_no_such_module.sub:toolbox: there is no module 'mcp_no_such_module.sub' (no "
        "module named 'mcp_no_such_module'); run from the directory that holds it, pass "
        "--app-dir, or install it"
    )


def test_a_module_whose_import_fails_names_its_error(app: Callable[[str], str]) -> None:
    broken = app("import mcp_missing_dependency\n")
    assert bad(f"{broken}:toolbox") == (
        f"{broken}:toolbox: importing {broken!r} failed: ModuleNotFoundError: No module "
        "named 'mcp_missing_dependency'"
    )
    raising = app("raise KeyError('LLM_API_KEY')\n")
    assert bad(f"{raising}:toolbox") == (
        f"{raising}:toolbox: importing {raising!r} failed: KeyError: 'LLM_API_KEY'"
    )


def test_a_missing_attribute_is_named(app: Callable[[str], str]) -> None:
    name = app(APP)
    assert bad(f"{name}:toolbx") == f"{name}:toolbx: module {name!r} has no attribute 'toolbx'"
    assert bad(f"{name}:tools.other") == (
        f"{name}:tools.other: class 'tools' has no attribute 'other'"
    )


def test_an_object_that_is_not_a_toolbox_is_refused(app: Callable[[str], str]) -> None:
    name = app(APP)
    assert bad(f"{name}:number") == (
        f"{name}:number is a int (3), not an llmgine.tools.Toolbox (or a function returning one)"
    )
    assert bad(f"{name}:returns_none") == (
        f"{name}:returns_none: returns_none() returned a NoneType (None), not an "
        "llmgine.tools.Toolbox"
    )
    assert bad(f"{name}:fails") == (
        f"{name}:fails: calling fails() failed: RuntimeError: no database"
    )


def test_the_error_is_a_bus_exception_and_a_value_error() -> None:
    with pytest.raises(ToolboxSpecError) as caught:
        load_toolbox("nothing")
    assert isinstance(caught.value, MessageBusException)
    assert isinstance(caught.value, ValueError)


def test_a_module_that_exits_while_imported_is_named_instead_of_serving_nothing(
    app: Callable[[str], str],
) -> None:
    # (uncaught, sys.exit(0) would end `llmgine mcp serve` with status 0 and no word)
    exiting = app("import sys\nsys.exit(0)\n")
    assert bad(f"{exiting}:toolbox") == (
        f"{exiting}:toolbox: importing {exiting!r} failed: SystemExit: 0"
    )
    name = app("import sys\ndef make():\n    sys.exit('no config')\n")
    assert bad(f"{name}:make") == f"{name}:make: calling make() failed: SystemExit: no config"
