"""The development virtual environments ``dev.py`` makes: one per CPython, filled by level.

Standard library only (``dev.py`` imports it before any environment exists).

A level is what a task needs: ``example`` (the core and the plugins the example
uses), ``full`` (every extra the tests, linters and docs need, every plugin with its
test extra) and ``bench`` (``full`` plus the peers the benchmarks compare with).
Each level leaves a marker in the environment holding a fingerprint of every
``pyproject.toml`` and of the core's version, so a task reinstalls only after one
of them changed; a higher level's marker satisfies the lower levels.

An environment is used only when it is complete: its creation finished (a marker
written last, after pip was seen to run) and no install into it was cut short (a
marker present while pip installs). Otherwise it is made again from scratch, so a
Ctrl-C or a failure at any moment costs a rerun of the setup, never a broken
environment. The setup's programs run in their own process group: Ctrl-C stops
them silently (``dev.py`` prints the one line), and the markers say what to redo.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .pythons import Interpreter, probe

ROOT: Final = Path(__file__).resolve().parents[1]
LEVELS: Final = ("example", "chat", "full", "bench")
#: The plugins examples/example.py exercises (the resource commands): no heavy dependencies.
EXAMPLE_PLUGINS: Final = ("llmgine-resources",)
#: What examples/chat_server.py adds to them: the metrics, and an OpenTelemetry SDK to read them.
CHAT_PLUGINS: Final = {"llmgine-otel": "[sdk]"}
#: The core's extras each level installs.
CORE_EXTRAS: Final = {
    "example": "",
    "chat": "",
    "full": "[test,dev,docs]",
    "bench": "[test,dev,docs,bench]",
}
#: How long a task's program (pytest, mkdocs, ...) interrupted by Ctrl-C gets to finish its
#: own report and clean-up before it is killed.
GRACE_SECONDS: Final = 10.0


class SetupError(Exception):
    """An environment could not be created or filled; the message says which and why."""


def step(message: str) -> None:
    """One progress line, so a long first run is never silent."""
    print(f"dev.py: {message}", flush=True)


def call(argv: Sequence[str], *, cwd: Path | None = None, setup: bool = False) -> int:
    """Run ``argv`` and return its exit status; on Ctrl-C, stop it and raise KeyboardInterrupt.

    A task's program shares the terminal's Ctrl-C and gets ``GRACE_SECONDS`` to stop on
    its own (pytest prints its summary, fixtures clean up). A ``setup`` program (venv,
    pip) runs in a process group of its own, reading nothing, and is killed with all its
    children: it would print a traceback or a line of its own, and the environment's
    markers make the next run redo its work anyway.
    """
    if not setup:
        child = subprocess.Popen(argv, cwd=cwd)
    else:
        child = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, process_group=0)
    try:
        return child.wait()
    except KeyboardInterrupt:
        try:
            if not setup:
                child.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        finally:  # also after a second Ctrl-C during the grace time
            if child.poll() is None:
                if setup:
                    os.killpg(child.pid, signal.SIGKILL)
                else:
                    child.kill()
                child.wait()
        raise


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

    @property
    def created_marker(self) -> Path:
        """Written last when the environment is created: its creation finished."""
        return self.path / ".llmgine-created"

    @property
    def installing_marker(self) -> Path:
        """Present while pip installs into the environment: an install that did not finish."""
        return self.path / ".llmgine-installing"

    def satisfied(self, level: str, wanted: str) -> bool:
        """Whether ``level`` or a higher one is installed for fingerprint ``wanted``."""
        return any(
            self.marker(higher).is_file() and self.marker(higher).read_text() == wanted
            for higher in LEVELS[LEVELS.index(level) :]
        )

    def pip_runs(self) -> bool:
        """Whether ``python -m pip`` works in the environment."""
        argv = [str(self.python), "-m", "pip", "--version"]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=120, check=False)
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0

    def defect(self) -> str | None:
        """Why the environment must be made (again), or ``None`` when it can be used.

        One made before dev.py marked complete environments is kept, and marked, when
        its pip runs (venv installs pip last).
        """
        if not self.path.exists():
            return "it does not exist"
        current = probe(str(self.python)) if self.python.exists() else None
        if current is None:
            return "its Python does not run"
        if current.minor != self.interpreter.minor:
            return f"it is CPython {current.version}"
        if self.installing_marker.exists():
            return "an install into it did not finish"
        if self.created_marker.is_file():
            return None
        if not self.pip_runs():
            return "its creation did not finish (it has no pip)"
        self.created_marker.write_text(current.version)
        return None

    def ensure(self, level: str) -> DevEnv:
        """Create the environment if needed and install ``level``; return ``self``."""
        if level == "bench":
            self.ensure("full")
        self.create()
        wanted = fingerprint(self.root)
        if not self.satisfied(level, wanted):
            self.installing_marker.write_text(level)
            self._install(level)
            self.marker(level).write_text(wanted)
            self.installing_marker.unlink()
        return self

    def create(self) -> None:
        """Create the environment, or make it again unless it is complete (see ``defect``)."""
        reason = self.defect()
        if reason is None:
            return
        interpreter = self.interpreter
        doing = f"{self.name} with CPython {interpreter.version} ({interpreter.executable})"
        step(f"creating {doing}" if not self.path.exists() else f"recreating {doing}: {reason}")
        self.created_marker.unlink(missing_ok=True)
        argv = [interpreter.executable, "-m", "venv", "--clear", str(self.path)]
        if call(argv, setup=True):
            raise SetupError(f"could not create {self.path} with {interpreter.executable}")
        if not self.pip_runs():
            raise SetupError(f"{self.path} was created without pip ({interpreter.executable})")
        self.created_marker.write_text(interpreter.version)  # last: the creation finished

    def _install(self, level: str) -> None:
        what = {
            "example": "what examples/example.py needs",
            "chat": "what examples/chat_server.py needs",
            "full": "the development environment",
            "bench": "the benchmarks' peer libraries",
        }[level]
        args = install_args(level, self.root)
        names = ["llmgine-messages" + CORE_EXTRAS[level], *(Path(a).name for a in args[3::2])]
        step(f"installing {what} into {self.name}: {', '.join(names)} (editable)")
        started = time.monotonic()
        # --no-input: a prompt would stop pip for good in its background process group
        pip = [str(self.python), "-m", "pip", "install", "--disable-pip-version-check"]
        if call([*pip, "--no-input", *args], setup=True):
            raise SetupError(f"pip could not install {what} into {self.path} (see above)")
        step(f"installed {what} into {self.name} in {time.monotonic() - started:.0f} s")


def install_args(level: str, root: Path = ROOT) -> list[str]:
    """pip's arguments for ``level``: the core with its extras, the plugins (editable)."""
    args = ["-e", f"{root}{CORE_EXTRAS[level]}"]
    if level == "bench":
        return args  # the plugins came with "full"; the peers are the core's extra
    for plugin in plugin_dirs(root):
        if level in ("example", "chat"):
            if plugin.name in EXAMPLE_PLUGINS:
                args += ["-e", str(plugin)]
            elif level == "chat" and plugin.name in CHAT_PLUGINS:
                args += ["-e", f"{plugin}{CHAT_PLUGINS[plugin.name]}"]
            continue
        metadata = tomllib.loads((plugin / "pyproject.toml").read_text())["project"]
        has_test = "test" in metadata.get("optional-dependencies", {})
        args += ["-e", f"{plugin}[test]" if level == "full" and has_test else str(plugin)]
    return args
