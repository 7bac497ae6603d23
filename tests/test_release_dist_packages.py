"""``dev.py dist`` names a wrong package path in a pyproject as such (tools/dist.py): the
package directory it names does not exist, or git tracks nothing in it."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from tools.dist import DistError, package_files
from tools.versions import ROOT, load_project

AUDIT = ROOT / "plugins" / "llmgine-audit"


def test_a_plugins_package_files_are_its_tracked_files() -> None:
    files = package_files(load_project(AUDIT))
    assert files["llmgine_audit/__init__.py"] == "llmgine_audit/__init__.py"
    assert all(name.startswith("llmgine_audit/") for name in files)


def test_a_package_directory_that_does_not_exist_is_named() -> None:
    typo = dataclasses.replace(load_project(AUDIT), wheel_packages=("llmgine_audti",))
    with pytest.raises(DistError) as caught:
        package_files(typo)
    assert str(caught.value) == (
        "plugins/llmgine-audit/pyproject.toml names the package directory 'llmgine_audti' "
        "([tool.hatch.build.targets.wheel] packages), "
        "but plugins/llmgine-audit/llmgine_audti does not exist"
    )


def test_a_package_directory_git_does_not_track_is_named(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=60)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '1.0.0'\n")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "__init__.py").write_text("")  # never added to git
    project = dataclasses.replace(load_project(tmp_path), wheel_packages=("x",))
    with pytest.raises(DistError, match=r"names the package directory 'x' .*, but git tracks no "):
        package_files(project)


def test_outside_a_git_checkout_the_message_says_so(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '1.0.0'\n")
    (tmp_path / "x").mkdir()
    project = dataclasses.replace(load_project(tmp_path), wheel_packages=("x",))
    with pytest.raises(DistError, match=r"git ls-files failed in .*run dist in a git checkout"):
        package_files(project)
