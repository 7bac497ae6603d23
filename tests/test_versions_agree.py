"""The versions a release states agree: ``__version__``, every plugin, CHANGELOG.md, the
plugins' core requirement, and the Python classifiers with the versions CI tests.

The CHANGELOG rule (``tools/versions.py``): the newest release heading is
``## [__version__] - DATE``, or ``## [Unreleased]`` comes first and targets
``__version__``, newer than every release heading.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path
from typing import Any

import llmgine
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tools.pythons import SUPPORTED
from tools.versions import Changelog

ROOT = Path(__file__).resolve().parents[1]
PYPROJECTS = [ROOT / "pyproject.toml", *sorted(ROOT.glob("plugins/*/pyproject.toml"))]
PLUGINS = PYPROJECTS[1:]


def project(path: Path) -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads(path.read_text())["project"]
    return project


def label(path: Path) -> str:
    return str(path.parent.relative_to(ROOT)) if path.parent != ROOT else "core"


def test_there_are_plugins_to_check() -> None:
    assert len(PLUGINS) >= 5


def test_the_installed_core_is_the_source_version() -> None:
    assert importlib.metadata.version("llmgine-messages") == llmgine.__version__


@pytest.mark.parametrize("path", PLUGINS, ids=label)
def test_every_plugin_has_the_cores_version(path: Path) -> None:
    """Plugins are released with the core, under the same version."""
    assert project(path)["version"] == llmgine.__version__


@pytest.mark.parametrize("path", PLUGINS, ids=label)
def test_every_plugin_requires_the_cores_minor_series(path: Path) -> None:
    major, minor = (int(part) for part in llmgine.__version__.split(".")[:2])
    requirements = [Requirement(text) for text in project(path)["dependencies"]]
    [core] = [r for r in requirements if r.name in {"llmgine-messages", "llmgine"}]
    assert core.name == "llmgine-messages"
    assert core.specifier == SpecifierSet(f">={major}.{minor},<{major}.{minor + 1}")


def test_the_changelog_names_the_current_version() -> None:
    changelog = Changelog.parse((ROOT / "CHANGELOG.md").read_text())
    assert changelog.check(llmgine.__version__) == []


@pytest.mark.parametrize("path", PYPROJECTS, ids=label)
def test_classifiers_name_exactly_the_pythons_ci_runs(path: Path) -> None:
    metadata = project(path)
    prefix = "Programming Language :: Python :: 3."
    named = {c.removeprefix(prefix) for c in metadata["classifiers"] if c.startswith(prefix)}
    assert {f"3.{minor}" for minor in named} == set(SUPPORTED)
    assert metadata["requires-python"] == f">={SUPPORTED[0]}"


def test_the_linters_target_the_oldest_python() -> None:
    tools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    assert tools["mypy"]["python_version"] == SUPPORTED[0]
    assert tools["ruff"]["target-version"] == "py" + SUPPORTED[0].replace(".", "")


# The CHANGELOG rule on small changelogs ------------------------------------------------

RELEASED = (
    "# Changelog\n\n## [0.3.0] - 2026-12-24\n\n- x\n\n## [0.2.0] - 2026-12-06\n\n## [0.1.0]\n"
)
IN_THE_MAKING = "# Changelog\n\n## [Unreleased]\n\n- y\n\n## [0.2.0] - 2026-12-06\n"


def test_a_released_version_is_the_newest_dated_heading() -> None:
    log = Changelog.parse(RELEASED)
    assert log.check("0.3.0") == []
    assert log.check("0.3.0", released=True) == []
    assert log.state("0.3.0") == "0.3.0 is released (2026-12-24)"


def test_an_unreleased_section_targets_a_newer_version() -> None:
    log = Changelog.parse(IN_THE_MAKING)
    assert log.check("0.3.0") == []
    assert log.state("0.3.0") == "0.3.0 is unreleased (## [Unreleased] targets it)"
    [problem] = log.check("0.3.0", released=True)
    assert "0.3.0 is not released: replace ## [Unreleased] with '## [0.3.0] - DATE'" in problem
    [problem] = log.check("0.2.0")
    assert "targets 0.2.0, which is not newer than the released 0.2.0" in problem


@pytest.mark.parametrize(
    ("text", "version", "problem"),
    [
        (RELEASED, "0.4.0", "0.4.0 has neither ## [Unreleased] first"),
        ("## [0.3.0]\n## [0.2.0] - 2026-12-06\n", "0.3.0", "0.3.0 has neither"),
        ("## [0.3.0] - 2026-12-24\n## [Unreleased]\n", "0.3.0", "must be the first heading"),
        ("## [0.3.0] - 2026-12-24\n## [0.3.0] - 2026-12-06\n", "0.3.0", "more than one heading"),
        ("## [0.2.0] - 2026-12-24\n## [0.3.0] - 2026-12-06\n", "0.2.0", "not newest first"),
        ("## [0.10.0] - 2026-12-24\n## [0.9.0] - 2026-12-06\n", "0.11.0", "0.11.0 has neither"),
        ("## [0.3] - 2026-12-24\n", "0.3.0", "'## [0.3] - 2026-12-24' is not '## [X.Y.Z]"),
        ("## [0.3.0] - 24 Dec 2026\n", "0.3.0", "is not '## [X.Y.Z] - YYYY-MM-DD'"),
    ],
)
def test_changelogs_breaking_the_rule_are_named(text: str, version: str, problem: str) -> None:
    problems = Changelog.parse(text).check(version)
    assert any(problem in p for p in problems), problems


def test_versions_order_numerically_not_as_text() -> None:
    log = Changelog.parse("## [Unreleased]\n## [0.10.0] - 2026-12-24\n## [0.9.0] - 2026-12-06\n")
    assert log.check("0.11.0") == []
    assert log.check("0.9.1") != []
