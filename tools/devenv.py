"""The development virtual environments ``dev.py`` makes: one per CPython, filled by level.

Standard library only (``dev.py`` imports it before any environment exists).

A level is what a task needs: ``example`` (the core and the plugins the example
uses), ``full`` (every extra the tests, linters and docs need, every plugin with its
test extra) and ``bench`` (``full`` plus the peers the benchmarks compare with).
Each level leaves a marker in the environment holding a fingerprint of every
``pyproject.toml`` and of the core's version, so a task reinstalls only after one
of them changed; a higher level's marker satisfies the lower levels.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .pythons import Interpreter, probe

ROOT: Final = Path(__file__).resolve().parents[1]
LEVELS: Final = ("example", "full", "bench")
#: The plugins examples/example.py exercises (the resource commands): no heavy dependencies.
EXAMPLE_PLUGINS: Final = ("llmgine-resources",)
#: The core's extras each level installs.
CORE_EXTRAS: Final = {"example": "", "full": "[test,dev,docs]", "bench": "[test,dev,docs,bench]"}


class SetupError(Exception):
    """An environment could not be created or filled; the message says which and why."""


def step(message: str) -> None:
    """One progress line, so a long first run is never silent."""
    print(f"dev.py: {message}", flush=True)


def plugin_dirs(root: Path = ROOT) -> list[Path]:
    """Every shipped plugin's directory, in name order."""
    return sorted(p.parent for p in (root / "plugins").glob("*/pyproject.toml"))


def fingerprint(root: Path = ROOT) -> str:
    """A digest of what decides an environment's contents (the core's version is dynamic)."""
    digest = hashlib.sha256()
    sources = [root / "pyproject.toml", root / "core" / "llmgine" / "_version.py"]
    for path in [*sources, *(p / "pyproject.toml" for p in plugin_dirs(root))]:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def running_minor() -> str:
    """``"3.11"`` when Python 3.11 runs this."""
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


@dataclass(frozen=True)
class DevEnv:
    """A virtual environment of ``ROOT`` for one interpreter."""

    interpreter: Interpreter
    root: Path = ROOT

    @property
    def path(self) -> Path:
        """``.venv`` for the Python running dev.py, ``.venv-3.X`` for the others."""
        minor = self.interpreter.minor
        return self.root / (".venv" if minor == running_minor() else f".venv-{minor}")

    @property
    def name(self) -> str:
        """The environment's directory name, for messages."""
        return self.path.name

    @property
    def python(self) -> Path:
        """The environment's interpreter."""
        return self.path / "bin" / "python"

    def marker(self, level: str) -> Path:
        """The file saying ``level`` is installed, and for which fingerprint."""
        return self.path / f".llmgine-{level}"

    def satisfied(self, level: str, wanted: str) -> bool:
        """Whether ``level`` or a higher one is installed for fingerprint ``wanted``."""
        return any(
            self.marker(higher).is_file() and self.marker(higher).read_text() == wanted
            for higher in LEVELS[LEVELS.index(level) :]
        )

    def ensure(self, level: str) -> DevEnv:
        """Create the environment if needed and install ``level``; return ``self``."""
        if level == "bench":
            self.ensure("full")
        self._create()
        wanted = fingerprint(self.root)
        if not self.satisfied(level, wanted):
            self._install(level)
            self.marker(level).write_text(wanted)
        return self

    def _create(self) -> None:
        current = probe(str(self.python)) if self.python.exists() else None
        if current is not None and current.minor == self.interpreter.minor:
            return
        interpreter = self.interpreter
        doing = "creating" if current is None else f"replacing the CPython {current.version} of"
        step(f"{doing} {self.name} (CPython {interpreter.version}, {interpreter.executable})")
        argv = [interpreter.executable, "-m", "venv", "--clear", str(self.path)]
        if subprocess.run(argv, check=False).returncode:
            raise SetupError(f"could not create {self.path} with {interpreter.executable}")

    def _install(self, level: str) -> None:
        what = {
            "example": "what examples/example.py needs",
            "full": "the development environment",
            "bench": "the benchmarks' peer libraries",
        }[level]
        args = install_args(level, self.root)
        names = ["llmgine-messages" + CORE_EXTRAS[level], *(Path(a).name for a in args[3::2])]
        step(f"installing {what} into {self.name}: {', '.join(names)} (editable)")
        started = time.monotonic()
        argv = [str(self.python), "-m", "pip", "install", "--disable-pip-version-check", *args]
        if subprocess.run(argv, check=False).returncode:
            raise SetupError(f"pip could not install {what} into {self.path} (see above)")
        step(f"installed {what} into {self.name} in {time.monotonic() - started:.0f} s")


def install_args(level: str, root: Path = ROOT) -> list[str]:
    """pip's arguments for ``level``: the core with its extras, the plugins (editable)."""
    args = ["-e", f"{root}{CORE_EXTRAS[level]}"]
    if level == "bench":
        return args  # the plugins came with "full"; the peers are the core's extra
    for plugin in plugin_dirs(root):
        if level == "example" and plugin.name not in EXAMPLE_PLUGINS:
            continue
        metadata = tomllib.loads((plugin / "pyproject.toml").read_text())["project"]
        has_test = "test" in metadata.get("optional-dependencies", {})
        args += ["-e", f"{plugin}[test]" if level == "full" and has_test else str(plugin)]
    return args
