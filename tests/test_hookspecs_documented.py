"""Meta-tests, as datasette has them: every hook is documented in the hook reference and tested.

The hook reference (docs/hooks.md) has a section per hookspec, headed with the hook's name
and arguments, holding its signature exactly as the hookspec declares it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from llmgine.plugins import get_plugin_manager, load_plugins

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "hooks.md"


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


def signature(hook: str) -> str:
    """``def hook(name: Annotation, ...) -> Return``, as the hookspec declares it."""
    spec = inspect.signature(SPECS[hook])
    params = ", ".join(f"{p.name}: {p.annotation}" for p in spec.parameters.values())
    return f"def {hook}({params}) -> {spec.return_annotation}"


def _flat(code: str) -> str:
    """Code without whitespace and trailing commas, so that line breaks do not count."""
    return re.sub(r",\)", ")", re.sub(r"\s+", "", code))


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_section_in_the_hook_reference(hook: str) -> None:
    params = ", ".join(inspect.signature(SPECS[hook]).parameters)
    heading = f"`{hook}({params})`"
    assert re.search(rf"^## {re.escape(heading)}", REFERENCE.read_text(), re.MULTILINE), (
        f"hook {hook!r} has no '## {heading}' section in docs/hooks.md"
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_reference_shows_the_signature(hook: str) -> None:
    # Each section's first code block is the signature (with its decorator).
    sections = re.split(r"^## ", REFERENCE.read_text(), flags=re.MULTILINE)
    section = next(s for s in sections if s.startswith(f"`{hook}("))
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, f"docs/hooks.md: the section of {hook!r} shows no signature"
    assert _flat(signature(hook)) in _flat(code[1]), (
        f"docs/hooks.md: the signature of {hook!r} is not {signature(hook)}"
    )


def test_the_signature_is_read_as_declared() -> None:
    assert signature("register_commands") == (
        "def register_commands(register: Register, bus: MessageBus) -> None"
    )
    assert _flat("def f(\n    a: int,\n) -> None") == _flat("def f(a: int) -> None")


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
