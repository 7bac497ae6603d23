"""Every plugin under plugins/ follows the plugin conventions (see README, "Writing a plugin").

``check_plugin(directory)`` checks one plugin directory and returns what it breaks, each
as "<plugin>: <rule broken>; <how to fix it>"; it is tested on a deliberately broken
plugin too, so that this test can fail.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
GROUP = "llmgine.plugins"
HOOKS = {
    "register_commands",
    "register_subscribers",
    "register_middleware",
    "register_messages",
    "startup",
    "shutdown",
    "plugin_status",
    "register_cli",
}
#: hand-written true/false parsing, which llmgine.plugins.env_flag replaces
TRUE_SET = re.compile(r"""\{\s*["'](1|true|yes|on)["']\s*,\s*["'](1|true|yes|on)["']""")


def _package(directory: Path, entry: str) -> Path:
    return directory / entry.split(".")[0]


def _sources(package: Path) -> list[tuple[Path, ast.Module, str]]:
    found = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text()
        found.append((path, ast.parse(text, str(path)), text))
    return found


def _exception_classes(tree: ast.Module) -> list[ast.ClassDef]:
    def looks_like_error(node: ast.ClassDef) -> bool:
        names = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
        return any(n.endswith(("Error", "Exception", "Conflict", "NotFound")) for n in names) or (
            node.name.endswith(("Error", "Exception"))
        )

    return [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and looks_like_error(n)]


def check_plugin(directory: Path) -> list[str]:
    """What plugin ``directory`` (holding pyproject.toml) breaks of the conventions."""
    name = directory.name
    project = tomllib.loads((directory / "pyproject.toml").read_text())
    entries = project.get("project", {}).get("entry-points", {}).get(GROUP, {})
    if len(entries) != 1:
        return [f'{name}: needs one entry point in [project.entry-points."{GROUP}"]']
    ((ep_name, entry),) = entries.items()
    problems: list[str] = []
    package = _package(directory, entry)
    if entry != f"{package.name}.plugin":
        problems.append(
            f"{name}: entry point {ep_name} = {entry!r} must name the module "
            f"'{package.name}.plugin'; move the hooks there (keep the old module as a "
            "deprecated alias that warns)"
        )
    errors = package / "errors.py"
    if not errors.exists():
        problems.append(
            f"{name}: {package.name}/errors.py is missing; create it (public) with every "
            "exception class the plugin defines, each deriving from MessageBusException"
        )
    for path, tree, text in _sources(package):
        where = f"{name}: {path.relative_to(directory)}"
        if path != errors:
            for cls in _exception_classes(tree):
                problems.append(
                    f"{where} defines exception {cls.name}; move it to {package.name}/errors.py"
                )
        else:
            for cls in _exception_classes(tree):
                bases = ast.unparse(ast.Tuple(cls.bases)) if cls.bases else ""
                known = {c.name for c in _exception_classes(tree)}
                inherited = any(b in known for b in re.findall(r"\w+", bases))
                if "MessageBusException" not in bases and not inherited:
                    problems.append(
                        f"{where}: {cls.name} must derive from "
                        "llmgine.messages.errors.MessageBusException (keep its other bases)"
                    )
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):
                problems.append(
                    f"{where}:{node.lineno} uses 'global'; keep plugin state per bus in a "
                    "llmgine.plugins.BusState"
                )
            if isinstance(node, ast.FunctionDef) and node.name == "_reset_for_tests":
                problems.append(
                    f"{where} defines _reset_for_tests(); keep state per bus so tests need none"
                )
        if TRUE_SET.search(text):
            problems.append(
                f"{where} parses true/false by hand; use llmgine.plugins.env_flag(name)"
            )
        if path.name == "plugin.py" and path.parent == package:
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and node.name in HOOKS:
                    args = node.args.args + node.args.kwonlyargs
                    bare = [a.arg for a in args if a.annotation is None]
                    if bare or node.returns is None:
                        problems.append(
                            f"{where}: hook {node.name} needs annotations on every parameter "
                            f"and its return ({', '.join(bare) or 'return'}); use Register, "
                            "Subscribe, RegisterMessage and MessageBus from llmgine"
                        )
    init = package / "__init__.py"
    install = None
    if init.exists():
        for _path, tree, _ in _sources(package):
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and node.name == "install":
                    install = node
        exported = "install" in init.read_text()
    else:
        exported = False
    if install is None or not exported:
        problems.append(
            f"{name}: {package.name}.install(bus, **settings) is missing; add it (settings = "
            "the plugin's environment variables, lower-case, without the prefix)"
        )
    elif not install.args.args or install.args.args[0].arg != "bus":
        problems.append(f"{name}: the first parameter of {package.name}.install must be 'bus'")
    return problems


@pytest.mark.parametrize("directory", PLUGINS, ids=[p.name for p in PLUGINS])
def test_each_shipped_plugin_follows_the_conventions(directory: Path) -> None:
    problems = check_plugin(directory)
    assert not problems, "\n".join(problems)


def test_a_plugin_made_by_llmgine_new_plugin_follows_the_conventions(tmp_path: Path) -> None:
    from llmgine.cli import main

    assert main(["new-plugin", "greeter", "--dir", str(tmp_path / "greeter")]) == 0
    problems = check_plugin(tmp_path / "greeter")
    assert not problems, "\n".join(problems)


BROKEN = {
    "pyproject.toml": '[project]\nname = "broken"\n\n'
    '[project.entry-points."llmgine.plugins"]\nbroken = "broken_pkg._plugin"\n',
    "broken_pkg/__init__.py": "",
    "broken_pkg/_plugin.py": (
        "import os\n\n_on = False\n\n\n"
        "def register_commands(register, bus):\n"
        "    global _on\n"
        "    _on = os.environ.get('X', '') in {'1', 'true', 'yes'}\n\n\n"
        "class BrokenError(Exception):\n    pass\n\n\n"
        "def _reset_for_tests():\n    pass\n"
    ),
}


def test_a_broken_plugin_is_told_what_to_fix(tmp_path: Path) -> None:
    for relative, text in BROKEN.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    problems = "\n".join(check_plugin(tmp_path))
    assert "must name the module 'broken_pkg.plugin'" in problems
    assert "broken_pkg/errors.py is missing" in problems
    assert "defines exception BrokenError; move it to broken_pkg/errors.py" in problems
    assert "uses 'global'" in problems
    assert "defines _reset_for_tests()" in problems
    assert "use llmgine.plugins.env_flag" in problems
    assert "broken_pkg.install(bus, **settings) is missing" in problems
    assert all(line.startswith(f"{tmp_path.name}: ") for line in problems.splitlines())


def test_unannotated_hooks_and_an_error_not_from_message_bus_exception_are_reported(
    tmp_path: Path,
) -> None:
    broken_too = {
        "pyproject.toml": BROKEN["pyproject.toml"].replace("_plugin", "plugin"),
        "broken_pkg/__init__.py": "from .plugin import install\n",
        "broken_pkg/errors.py": "class BrokenError(ValueError):\n    pass\n",
        "broken_pkg/plugin.py": "def startup(bus):\n    pass\n\n\ndef install(app):\n    pass\n",
    }
    for relative, text in broken_too.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    problems = "\n".join(check_plugin(tmp_path))
    assert "BrokenError must derive from llmgine.messages.errors.MessageBusException" in problems
    assert "hook startup needs annotations" in problems
    assert "first parameter of broken_pkg.install must be 'bus'" in problems
