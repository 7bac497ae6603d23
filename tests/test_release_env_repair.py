"""An environment ``dev.py`` left incomplete is made again (tools/devenv.py): one whose
creation was cut short (no pip), or whose install did not finish; a complete one is kept."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.devenv import DevEnv, SetupError
from tools.pythons import Interpreter

pytestmark = pytest.mark.slow  # builds virtual environments


def env_in(root: Path) -> DevEnv:
    """The environment dev.py run by this Python would use in checkout ``root``."""
    return DevEnv(Interpreter(sys.executable, platform.python_version()), root=root)


def venv(path: Path, *options: str) -> None:
    subprocess.run([sys.executable, "-m", "venv", *options, str(path)], check=True, timeout=300)


@pytest.fixture(scope="module")
def complete_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with pip, made as dev.py before its markers did; tests copy it."""
    path = tmp_path_factory.mktemp("made") / ".venv"
    venv(path)
    return path


def test_a_venv_without_pip_says_its_creation_did_not_finish(tmp_path: Path) -> None:
    env = env_in(tmp_path)
    assert env.defect() == "it does not exist"
    venv(env.path, "--without-pip")  # what a Ctrl-C during venv's ensurepip leaves
    assert env.defect() == "its creation did not finish (it has no pip)"
    assert not env.created_marker.exists()


def test_a_directory_without_a_working_python_is_made_again(tmp_path: Path) -> None:
    env = env_in(tmp_path)
    (env.path / "bin").mkdir(parents=True)
    assert env.defect() == "its Python does not run"


def fake_checkout(root: Path) -> Path:
    """What fingerprinting needs: the pyproject and the core's version file."""
    (root / "core" / "llmgine").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'llmgine-messages'\n")
    (root / "core" / "llmgine" / "_version.py").write_text('__version__ = "0.3.0"\n')
    return root


def test_an_install_that_did_not_finish_makes_the_environment_again(tmp_path: Path) -> None:
    env = env_in(fake_checkout(tmp_path))
    venv(env.path, "--without-pip")
    env.created_marker.write_text(platform.python_version())
    assert env.defect() is None
    # ensure() marks the install before pip runs; here pip fails (there is none), as a
    # failed or interrupted install would: the mark stays and the next run starts afresh.
    with pytest.raises(SetupError, match=r"pip could not install what examples/example\.py"):
        env.ensure("example")
    assert env.installing_marker.read_text() == "example"
    assert not env.marker("example").exists()
    assert env.defect() == "an install into it did not finish"


def test_a_complete_environment_made_before_the_markers_is_kept_and_marked(
    tmp_path: Path, complete_venv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = env_in(tmp_path)
    shutil.copytree(complete_venv, env.path, symlinks=True)
    (env.path / "kept").write_text("")
    env.create()
    assert env.created_marker.read_text() == platform.python_version()
    env.create()
    assert (env.path / "kept").exists()
    assert capsys.readouterr().out == ""  # nothing was made


def test_creating_replaces_an_incomplete_environment_with_one_that_has_pip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = env_in(tmp_path)
    venv(env.path, "--without-pip")
    (env.path / "left-over").write_text("")
    env.create()
    out = capsys.readouterr().out
    assert out.startswith(f"dev.py: recreating .venv with CPython {platform.python_version()} (")
    assert out.endswith("): its creation did not finish (it has no pip)\n")
    assert env.pip_runs()
    assert env.created_marker.is_file()
    assert not (env.path / "left-over").exists()
    assert env.defect() is None
