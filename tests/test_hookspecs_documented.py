"""Meta-tests, as datasette has them: every hook is documented in the guide and tested."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from llmgine.plugins import get_plugin_manager, load_plugins

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "README.md"


def _all_hookspecs() -> dict[str, Callable[..., object]]:
    """Every hookspec's name and function, read once at collection: tests that run
    earlier may reset the plugin manager, which forgets the plugins' hookspecs."""
    # Installed plugins may add hookspecs of their own (the workflows plugin does).
    load_plugins(lenient=True)
    specs = {
        name: caller.spec.function
        for name, caller in vars(get_plugin_manager().hook).items()
        if getattr(caller, "spec", None) is not None
    }
    return dict(sorted(specs.items()))


def _test_sources() -> str:
    files = [*ROOT.glob("tests/**/test_*.py"), *ROOT.glob("plugins/*/tests/**/test_*.py")]
    return "\n".join(f.read_text() for f in files)


SPECS = _all_hookspecs()
HOOKS = list(SPECS)


def test_core_hookspecs_are_found() -> None:
    assert {"register_commands", "register_subscribers", "startup", "shutdown"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_in_the_guide(hook: str) -> None:
    guide = GUIDE.read_text()
    assert re.search(rf"^#+ `{hook}\(", guide, re.MULTILINE), (
        f"hook {hook!r} has no '### `{hook}(...)`' section in README.md's plugin guide"
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook: str) -> None:
    assert re.search(rf"def test_hook_{hook}(?:_|\()", _test_sources()), (
        f"no test function named test_hook_{hook}... under tests/ or plugins/*/tests/"
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hookspec_has_a_one_line_docstring(hook: str) -> None:
    doc = inspect.getdoc(SPECS[hook]) or ""
    assert doc, f"hookspec {hook} needs a one-line docstring"
    assert "\n" not in doc.strip(), f"hookspec {hook}'s docstring must be one line"
