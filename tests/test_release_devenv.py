"""The environments ``dev.py`` makes (tools/devenv.py): the example's holds only what the
example needs, the test environment everything, and a changed pyproject or core version
reinstalls."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from tools.devenv import EXAMPLE_PLUGINS, ROOT, DevEnv, fingerprint, install_args, plugin_dirs
from tools.pythons import Interpreter

#: What a first ``dev.py example`` must not spend its time installing.
HEAVY = {"pytest", "ruff", "mypy", "hypothesis", "opentelemetry-sdk", "opentelemetry-api", "redis"}


def requirement_names(pyproject: Path) -> set[str]:
    metadata = tomllib.loads(pyproject.read_text())["project"]
    return {Requirement(text).name for text in metadata.get("dependencies", [])}


def test_the_example_environment_is_the_core_and_the_resources_plugin() -> None:
    plugins = ROOT / "plugins"
    assert install_args("example") == ["-e", str(ROOT), "-e", str(plugins / "llmgine-resources")]
    assert EXAMPLE_PLUGINS == ("llmgine-resources",)


def test_the_example_environment_brings_no_heavy_dependency() -> None:
    names = requirement_names(ROOT / "pyproject.toml")
    for plugin in EXAMPLE_PLUGINS:
        names |= requirement_names(ROOT / "plugins" / plugin / "pyproject.toml")
    # (cattrs: attrs' companion, pure Python, needing only attrs and typing-extensions)
    assert names - {"llmgine-messages"} <= {"attrs", "cattrs", "pluggy", "packaging"}
    assert not names & HEAVY


def test_the_example_imports_only_the_standard_library_and_llmgine() -> None:
    tree = ast.parse((ROOT / "examples" / "example.py").read_text())
    modules = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    modules |= {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    tops = {module.partition(".")[0] for module in modules}
    assert tops - set(sys.stdlib_module_names) == {"llmgine"}
    assert "resource" in (ROOT / "examples" / "example.py").read_text()  # what the plugin handles


def test_the_full_environment_has_every_extra_and_every_plugin() -> None:
    args = install_args("full")
    assert args[:2] == ["-e", f"{ROOT}[test,dev,docs]"]
    installed = args[3::2]
    assert [Path(arg.removesuffix("[test]")) for arg in installed] == plugin_dirs()
    for arg in installed:
        pyproject = Path(arg.removesuffix("[test]")) / "pyproject.toml"
        extras = tomllib.loads(pyproject.read_text())["project"].get("optional-dependencies", {})
        assert arg.endswith("[test]") == ("test" in extras)


def test_the_bench_level_adds_the_peers() -> None:
    assert install_args("bench") == ["-e", f"{ROOT}[test,dev,docs,bench]"]


def fake_checkout(root: Path) -> Path:
    (root / "core" / "llmgine").mkdir(parents=True)
    (root / "plugins" / "llmgine-x").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'llmgine-messages'\n")
    (root / "core" / "llmgine" / "_version.py").write_text('__version__ = "0.3.0"\n')
    (root / "plugins" / "llmgine-x" / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return root


def test_the_fingerprint_follows_the_pyprojects_and_the_cores_version(tmp_path: Path) -> None:
    root = fake_checkout(tmp_path)
    seen = {fingerprint(root)}
    for path, text in [
        ("core/llmgine/_version.py", '__version__ = "0.3.1"\n'),
        ("pyproject.toml", "[project]\nname = 'llmgine-messages'\n# changed\n"),
        ("plugins/llmgine-x/pyproject.toml", "[project]\nname = 'x'\nversion = '1'\n"),
    ]:
        (root / path).write_text(text)
        seen.add(fingerprint(root))
    assert len(seen) == 4
    assert fingerprint(root) == fingerprint(root)


def test_a_higher_levels_marker_satisfies_the_lower_levels(tmp_path: Path) -> None:
    env = DevEnv(Interpreter(sys.executable, "3.11.7"), root=tmp_path)
    env.path.mkdir()
    assert not env.satisfied("example", "digest")
    env.marker("full").write_text("digest")
    assert env.satisfied("example", "digest")
    assert env.satisfied("full", "digest")
    assert not env.satisfied("bench", "digest")
    assert not env.satisfied("example", "another digest")  # a pyproject changed


def test_each_python_has_its_environment(tmp_path: Path) -> None:
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert DevEnv(Interpreter("python", f"{running}.0"), root=tmp_path).path == tmp_path / ".venv"
    other = "3.99"
    assert DevEnv(Interpreter("python", f"{other}.1"), root=tmp_path).name == ".venv-3.99"


def test_unknown_tasks_print_the_usage_and_fail() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "dev.py"), "tset"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "python3 dev.py test [--python X.Y]" in done.stdout
    assert "LLMGINE_ALLOW_MISSING_PYTHONS=1" in done.stdout
