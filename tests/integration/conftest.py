"""A fresh virtual environment with the core and throwaway plugin distributions installed by pip.

Nothing here fakes ``importlib.metadata``: each plugin is a real distribution with a
real entry point, built and installed by pip, and each check runs in a subprocess of
that environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from collections.abc import Mapping
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]


def columns(listing: str) -> dict[str, list[str]]:
    """The rows of ``llmgine plugins``' text by plugin name: ``[state]``, distribution,
    version (the columns are aligned with spaces, so compared as words)."""
    rows = [line.split() for line in listing.splitlines()]
    return {
        words[0]: words[1:]
        for words, line in zip(rows, listing.splitlines(), strict=True)
        if words and not line.startswith(" ") and words[0] != "problems:"
    }


def write_plugin(
    base: Path,
    dist: str,
    code: str,
    *,
    version: str = "0.0.1",
    requires: str = "llmgine-messages>=0.1",
    entry_point: str | None = None,
) -> Path:
    """Write a one-module plugin distribution named ``dist`` and return its directory."""
    package = dist.replace("-", "_")
    root = base / dist
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text(textwrap.dedent(code))
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "{dist}"
            version = "{version}"
            dependencies = ["{requires}"]

            [project.entry-points."llmgine.plugins"]
            {entry_point or dist.removeprefix("llmgine-")} = "{package}"
            """
        )
    )
    return root


@attrs.frozen
class PluginEnv:
    """A venv with plugins installed; run Python code or the ``llmgine`` CLI inside it."""

    root: Path
    python: Path

    def run(
        self, code: str, env: Mapping[str, str] | None = None, *, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run ``code`` with the venv's Python; ``env`` adds to a clean environment."""
        return self._run([str(self.python), "-c", textwrap.dedent(code)], env, check)

    def cli(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the installed ``llmgine`` console script."""
        return self._run([str(self.python.parent / "llmgine"), *args], env, check=False)

    def run_json(self, code: str, env: Mapping[str, str] | None = None) -> object:
        """Run ``code``, which prints one JSON document, and return it parsed."""
        done = self.run(code, env, check=True)
        return json.loads(done.stdout)

    def _run(
        self, argv: list[str], env: Mapping[str, str] | None, check: bool
    ) -> subprocess.CompletedProcess[str]:
        full = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("LLMGINE_") and k not in {"PYTHONPATH", "VIRTUAL_ENV"}
        }
        full.update(env or {})
        done = subprocess.run(argv, env=full, capture_output=True, text=True, timeout=120)
        if check and done.returncode:
            raise AssertionError(f"exit {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done


def make_venv(path: Path) -> Path:
    """Create a venv at ``path`` and return its Python."""
    venv.EnvBuilder(with_pip=True).create(path)
    return path / "bin" / "python"


def pip_install(python: Path, *args: str | Path) -> None:
    """``pip install`` into the venv of ``python``; fail with pip's output."""
    argv = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    done = subprocess.run([*argv, *map(str, args)], capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise AssertionError(f"pip install failed:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def python_for_venvs() -> str:
    """The interpreter new venvs are made from."""
    return sys.executable
