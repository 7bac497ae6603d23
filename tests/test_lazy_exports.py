"""Names built on first use (messages/_lazy.py) behave like ordinary module attributes."""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys
import typing
from types import ModuleType

import pytest

#: public module -> the module that defines the names it builds on first use, and
#: those names (None: every name in that module's __all__, the one list of them)
SOURCES: dict[str, tuple[str, list[str] | None]] = {
    "llmgine.messages.events": ("llmgine.messages._core_events", None),
    "llmgine.messages.commands": ("llmgine.messages._core_commands", None),
    "llmgine.messages": ("llmgine.messages._core_events", ["SystemEvent"]),
    "llmgine.plugins": ("llmgine.plugins.status", ["PluginStatus"]),
}
#: public module -> (names it builds on first use, the module that defines them)
LAZY = {
    module: (names if names is not None else list(importlib.import_module(source).__all__), source)
    for module, (source, names) in SOURCES.items()
}

CASES = [(module, name) for module, (names, _) in LAZY.items() for name in names]


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize(("module", "name"), CASES)
def test_a_lazy_name_resolves_to_one_object(module: str, name: str) -> None:
    public = _module(module)
    first = getattr(public, name)
    assert getattr(public, name) is first
    assert getattr(_module(LAZY[module][1]), name) is first
    assert name in dir(public)
    assert name in public.__all__


@pytest.mark.parametrize(("module", "name"), CASES)
def test_from_import_of_a_lazy_name(module: str, name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module} import {name}", namespace)
    assert namespace[name] is getattr(_module(module), name)


@pytest.mark.parametrize("module", LAZY)
def test_star_import_gets_every_exported_name(module: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module} import *", namespace)
    assert set(_module(module).__all__) <= namespace.keys()


@pytest.mark.parametrize("module", ["llmgine.messages.events", "llmgine.messages.commands"])
def test_all_is_the_base_class_then_the_lazy_ones(module: str) -> None:
    base = "Event" if module.endswith("events") else "Command"
    assert _module(module).__all__ == [base, *LAZY[module][0]]


@pytest.mark.parametrize("module", LAZY)
def test_an_unknown_name_is_still_an_attribute_error(module: str) -> None:
    with pytest.raises(AttributeError, match=f"module '{module}' has no attribute 'Nope'"):
        _module(module).Nope  # noqa: B018
    assert not hasattr(_module(module), "Nope")


@pytest.mark.parametrize(
    ("module", "name"),
    [(m, n) for m, n in CASES if m in ("llmgine.messages.events", "llmgine.messages.commands")],
)
def test_core_message_classes_name_their_public_module(module: str, name: str) -> None:
    value = getattr(_module(module), name)
    if isinstance(value, type):
        assert value.__module__ == module
        # what the Redis wire registry relies on to check field types
        assert typing.get_type_hints(value)


def test_core_messages_pickle_through_their_public_module() -> None:
    from llmgine.messages.commands import CreateResourceCommand
    from llmgine.messages.events import SystemEvent

    event = SystemEvent(component="bus", severity="error", message="m", details={"a": 1})
    command = CreateResourceCommand(resource_type="doc", resource_data={"b": 2})
    assert pickle.loads(pickle.dumps(event)) == event
    assert pickle.loads(pickle.dumps(command)) == command
    assert b"llmgine.messages.events" in pickle.dumps(event)


def test_importing_the_core_builds_none_of_them() -> None:
    lazy_modules = sorted({source for _, source in LAZY.values()})
    code = (
        "import sys, llmgine.messages.handlers, llmgine.messages.events, "
        "llmgine.messages.commands; "
        f"print([m for m in {lazy_modules!r} if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
