"""Every plugin under plugins/ follows the plugin conventions (README, "Plugin author's guide").

``check_plugin(directory)`` reads one plugin directory (its ``pyproject.toml`` and its
package's source, without importing it) and returns what it breaks, each as
``"<plugin>: <what is wrong>; <how to fix it>"``. It is run on every shipped plugin, on
a plugin that ``llmgine new-plugin`` writes, and on deliberately broken plugins, so
that this test can fail.
"""

from __future__ import annotations

import ast
import builtins
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import llmgine.messages.errors
import pytest
from llmgine.messages.errors import MessageBusException

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
GROUP = "llmgine.plugins"
HOOKS = frozenset(
    {
        "register_commands",
        "register_subscribers",
        "register_middleware",
        "register_messages",
        "startup",
        "shutdown",
        "plugin_status",
        "register_cli",
    }
)
#: hand-written true/false parsing, which llmgine.plugins.env_flag replaces
TRUE_SET = re.compile(r"""\{\s*["'](?:1|true|yes|on)["']\s*,\s*["'](?:1|true|yes|on)["']""")


def _names_of(cls: type[BaseException], module: object) -> set[str]:
    found = (getattr(module, n) for n in dir(module))
    return {c.__name__ for c in found if isinstance(c, type) and issubclass(c, cls)}


#: exception classes a plugin's classes may derive from by name: Python's and llmgine's
BUILTIN_ERRORS = _names_of(BaseException, builtins) | _names_of(
    BaseException, llmgine.messages.errors
)
#: llmgine's classes that are MessageBusExceptions
BUS_ERRORS = _names_of(MessageBusException, llmgine.messages.errors)


class Package:
    """A plugin package's source: its modules parsed, and the exception classes they define."""

    def __init__(self, directory: Path, root: Path) -> None:
        self.directory, self.root = directory, root
        self.modules = {p: ast.parse(p.read_text(), str(p)) for p in sorted(root.rglob("*.py"))}
        classes = [
            (path, node)
            for path, tree in self.modules.items()
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
        ]
        self.bases = {node.name: [_base_name(b) for b in node.bases] for _, node in classes}
        self.errors = [(p, n) for p, n in classes if self._derives(n.name, BUILTIN_ERRORS)]

    def _derives(self, name: str, roots: set[str], seen: frozenset[str] = frozenset()) -> bool:
        if name in roots:
            return True
        if name in seen or name not in self.bases:
            return False
        return any(self._derives(b, roots, seen | {name}) for b in self.bases[name])

    def is_bus_error(self, name: str) -> bool:
        """Whether class ``name`` derives from MessageBusException (through the package's)."""
        return self._derives(name, BUS_ERRORS)

    def where(self, path: Path, line: int | None = None) -> str:
        """``plugin: path[:line]``, for messages."""
        return f"{self.directory.name}: {path.relative_to(self.directory)}" + (
            f":{line}" if line else ""
        )


def _base_name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")


def check_plugin(directory: Path) -> list[str]:
    """What plugin ``directory`` (holding pyproject.toml) breaks of the conventions."""
    project = tomllib.loads((directory / "pyproject.toml").read_text())
    entries = project.get("project", {}).get("entry-points", {}).get(GROUP, {})
    if len(entries) != 1:
        return [
            f'{directory.name}: needs one entry point in [project.entry-points."{GROUP}"] '
            f'(it has {len(entries)}); add `<name> = "<package>.plugin"`'
        ]
    ((ep_name, entry),) = entries.items()
    package = Package(directory, directory / entry.split(".")[0])
    return [
        *_entry_point(package, ep_name, entry),
        *_errors(package),
        *_state_and_flags(package),
        *_hooks(package),
        *_install(package),
    ]


def _entry_point(package: Package, ep_name: str, entry: str) -> Iterator[str]:
    wanted = f"{package.root.name}.plugin"
    if entry != wanted:
        yield (
            f"{package.directory.name}: entry point {ep_name} = {entry!r} must name the module "
            f"{wanted!r}; move the hooks there (keep the old module one minor version as a "
            "deprecated alias that warns)"
        )


def _errors(package: Package) -> Iterator[str]:
    errors = package.root / "errors.py"
    if errors not in package.modules:
        yield (
            f"{package.directory.name}: {package.root.name}/errors.py is missing; create it "
            "(public) with every exception class the plugin defines, each deriving from "
            "llmgine.messages.errors.MessageBusException"
        )
    for path, node in package.errors:
        if path != errors:
            yield (
                f"{package.where(path, node.lineno)} defines exception {node.name}; move it to "
                f"{package.root.name}/errors.py (and re-export it from the package)"
            )
        elif not package.is_bus_error(node.name):
            yield (
                f"{package.where(path, node.lineno)}: {node.name} must derive from "
                "llmgine.messages.errors.MessageBusException (keep its other bases, so that "
                "existing except clauses still catch it)"
            )


def _state_and_flags(package: Package) -> Iterator[str]:
    for path, tree in package.modules.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):
                yield (
                    f"{package.where(path, node.lineno)} uses 'global'; keep the plugin's state "
                    "per bus in a llmgine.plugins.BusState"
                )
            if isinstance(node, ast.FunctionDef) and node.name == "_reset_for_tests":
                yield (
                    f"{package.where(path, node.lineno)} defines _reset_for_tests(); keep "
                    "state per bus (a fresh MessageBus.isolated() starts clean)"
                )
        if TRUE_SET.search(path.read_text()):
            yield (
                f"{package.where(path)} parses true/false values by hand; use "
                "llmgine.plugins.env_flag(name)"
            )


def _hooks(package: Package) -> Iterator[str]:
    plugin = package.root / "plugin.py"
    for node in package.modules.get(plugin, ast.Module(body=[], type_ignores=[])).body:
        if isinstance(node, ast.FunctionDef) and node.name in HOOKS:
            params = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            bare = [a.arg for a in params if a.annotation is None]
            if node.returns is None:
                bare.append("return")
            if bare:
                yield (
                    f"{package.where(plugin, node.lineno)}: hook {node.name} needs annotations "
                    f"({', '.join(bare)}); use Register, Subscribe, RegisterMessage (from "
                    "llmgine.plugins) and MessageBus"
                )


def _install(package: Package) -> Iterator[str]:
    init = package.modules.get(package.root / "__init__.py")
    exported = init is not None and any(
        (isinstance(n, ast.ImportFrom) and any((a.asname or a.name) == "install" for a in n.names))
        or (isinstance(n, ast.FunctionDef) and n.name == "install")
        for n in init.body
    )
    found = [
        node
        for tree in package.modules.values()
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name == "install"
    ]
    if not exported or not found:
        yield (
            f"{package.directory.name}: {package.root.name}.install(bus, **settings) is missing; "
            "add it (its settings are the plugin's environment variables, lower-case, without "
            "the prefix) and export it from the package"
        )
    elif not found[0].args.args or found[0].args.args[0].arg != "bus":
        yield (
            f"{package.directory.name}: the first parameter of {package.root.name}.install must "
            "be 'bus' (the bus it configures)"
        )


@pytest.mark.parametrize("directory", PLUGINS, ids=[p.name for p in PLUGINS])
def test_each_shipped_plugin_follows_the_conventions(directory: Path) -> None:
    problems = check_plugin(directory)
    assert not problems, "\n".join(problems)


def test_a_plugin_made_by_llmgine_new_plugin_follows_the_conventions(tmp_path: Path) -> None:
    from llmgine.cli import main

    assert main(["new-plugin", "greeter", "--dir", str(tmp_path / "greeter")]) == 0
    problems = check_plugin(tmp_path / "greeter")
    assert not problems, "\n".join(problems)


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


PYPROJECT = '[project]\nname = "broken"\n\n[project.entry-points."llmgine.plugins"]\n'


def test_a_broken_plugin_is_told_what_to_fix(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "pyproject.toml": PYPROJECT + 'broken = "broken_pkg._plugin"\n',
            "broken_pkg/__init__.py": "",
            "broken_pkg/_plugin.py": (
                "import os\n\n_on = False\n\n\n"
                "def register_commands(register, bus):\n"
                "    global _on\n"
                "    _on = os.environ.get('X', '') in {'1', 'true', 'yes'}\n\n\n"
                "class Broken(LookupError):\n    pass\n\n\n"
                "class Worse(Broken):\n    pass\n\n\n"
                "def _reset_for_tests():\n    pass\n"
            ),
        },
    )
    problems = check_plugin(root)
    text = "\n".join(problems)
    assert "must name the module 'broken_pkg.plugin'" in text
    assert "broken_pkg/errors.py is missing" in text
    assert "defines exception Broken; move it to broken_pkg/errors.py" in text
    assert "defines exception Worse; move it" in text  # found through its base
    assert "broken_pkg/_plugin.py:7 uses 'global'" in text
    assert "defines _reset_for_tests()" in text
    assert "use llmgine.plugins.env_flag" in text
    assert "broken_pkg.install(bus, **settings) is missing" in text
    assert all(p.startswith(f"{tmp_path.name}: ") for p in problems)


def test_unannotated_hooks_and_errors_not_from_message_bus_exception_are_reported(
    tmp_path: Path,
) -> None:
    root = write(
        tmp_path,
        {
            "pyproject.toml": PYPROJECT + 'broken = "broken_pkg.plugin"\n',
            "broken_pkg/__init__.py": "from .plugin import install\n",
            "broken_pkg/errors.py": (
                "from llmgine.messages.errors import MessageBusException\n\n\n"
                "class Fine(MessageBusException, ValueError):\n    pass\n\n\n"
                "class AlsoFine(Fine):\n    pass\n\n\n"
                "class Wrong(ValueError):\n    pass\n"
            ),
            "broken_pkg/plugin.py": (
                "def startup(bus) -> None:\n    pass\n\n\n"
                "def plugin_status():\n    pass\n\n\n"
                "def install(app):\n    pass\n"
            ),
        },
    )
    text = "\n".join(check_plugin(root))
    assert "Wrong must derive from llmgine.messages.errors.MessageBusException" in text
    assert "Fine must" not in text
    assert "hook startup needs annotations (bus)" in text
    assert "hook plugin_status needs annotations (return)" in text
    assert "first parameter of broken_pkg.install must be 'bus'" in text


def test_a_plugin_needs_exactly_one_entry_point(tmp_path: Path) -> None:
    root = write(tmp_path, {"pyproject.toml": PYPROJECT})
    assert check_plugin(root) == [
        f'{tmp_path.name}: needs one entry point in [project.entry-points."llmgine.plugins"] '
        '(it has 0); add `<name> = "<package>.plugin"`'
    ]
