"""Find the CPython interpreters the test suite runs on, with the standard library only.

``dev.py`` imports this module with whatever ``python3`` runs it, before any virtual
environment exists, so it must not need anything installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

#: The CPython versions CI runs the suite on; the classifiers of every pyproject name them.
SUPPORTED: Final = ("3.11", "3.12", "3.13")
#: The oldest CPython the core installs on (``requires-python``); newer ones may be chosen.
OLDEST: Final = (3, 11)
#: Interpreters to use instead of searching (``os.pathsep``-separated paths or commands).
PYTHONS_ENV: Final = "LLMGINE_PYTHONS"
#: Set to ``1`` to let ``dev.py test`` pass when a supported version is not on the machine.
ALLOW_MISSING_ENV: Final = "LLMGINE_ALLOW_MISSING_PYTHONS"

_PROBE = (
    "import platform, sys; "
    "print(platform.python_implementation(), platform.python_version(), sys.executable)"
)
_MINOR = re.compile(r"3\.(0|[1-9]\d*)")


@dataclass(frozen=True)
class Interpreter:
    """A CPython that runs: its real executable (not a shim) and its full version."""

    executable: str
    version: str

    @property
    def minor(self) -> str:
        """``"3.12"`` for 3.12.1."""
        return ".".join(self.version.split(".")[:2])


@dataclass
class Discovery:
    """What a search found per minor version, and what it tried for the ones it did not."""

    found: dict[str, Interpreter] = field(default_factory=dict)
    tried: dict[str, list[str]] = field(default_factory=dict)

    def missing(self, minors: Sequence[str]) -> list[str]:
        """The versions of ``minors`` that were not found, in order."""
        return [minor for minor in minors if minor not in self.found]

    def explain(self, minor: str) -> str:
        """One line saying where ``minor`` was looked for, for a missing version."""
        tried = self.tried.get(minor) or ["nothing"]
        return f"CPython {minor} not found (tried: {', '.join(tried)})"


def probe(command: str) -> Interpreter | None:
    """The CPython ``command`` runs, or ``None`` if it does not run or is another Python.

    Running it is the only reliable test: a pyenv shim for a version pyenv does not
    have is on ``PATH`` and executable, and exits 127.
    """
    try:
        done = subprocess.run(
            [command, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    parts = done.stdout.split(maxsplit=2)
    if done.returncode or len(parts) != 3 or parts[0] != "CPython":
        return None
    return Interpreter(executable=parts[2].strip(), version=parts[1])


def pyenv_root(env: Mapping[str, str]) -> Path | None:
    """``$PYENV_ROOT``, else what ``pyenv root`` prints, else ``None``."""
    if env.get("PYENV_ROOT"):
        return Path(env["PYENV_ROOT"])
    pyenv = shutil.which("pyenv", path=env.get("PATH"))
    if pyenv is None:
        return None
    try:
        done = subprocess.run(
            [pyenv, "root"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def candidates(minor: str, env: Mapping[str, str]) -> list[str]:
    """Commands that may run CPython ``minor``, best first.

    The interpreter running this code, then ``python3.X`` on ``PATH``, then pyenv's
    installed ``3.X.N`` versions, newest first (pyenv's free-threaded ``3.13.0t`` and
    ``-dev`` builds are skipped: they are not the CPython users install).
    """
    found: list[str] = []
    if sys.implementation.name == "cpython" and f"{sys.version_info[0]}.{sys.version_info[1]}" == (
        minor
    ):
        found.append(sys.executable)
    on_path = shutil.which(f"python{minor}", path=env.get("PATH"))
    if on_path is not None:
        found.append(on_path)
    root = pyenv_root(env)
    if root is not None and (root / "versions").is_dir():
        pattern = re.compile(re.escape(minor) + r"\.(\d+)")
        versions = [
            (int(match.group(1)), path)
            for path in (root / "versions").iterdir()
            if (match := pattern.fullmatch(path.name))
        ]
        found += [str(path / "bin" / "python") for _, path in sorted(versions, reverse=True)]
    return list(dict.fromkeys(found))


def discover(minors: Sequence[str], env: Mapping[str, str] = os.environ) -> Discovery:
    """Find a working CPython for each of ``minors`` (such as ``"3.12"``).

    With ``LLMGINE_PYTHONS`` set, only the interpreters it names are used.
    """
    result = Discovery()
    named = env.get(PYTHONS_ENV, "").strip()
    if named:
        for command in filter(None, (part.strip() for part in named.split(os.pathsep))):
            interpreter = probe(command)
            if interpreter is None:
                for minor in minors:
                    result.tried.setdefault(minor, []).append(f"{command} (does not run)")
            elif interpreter.minor in minors and interpreter.minor not in result.found:
                result.found[interpreter.minor] = interpreter
        for minor in result.missing(minors):
            result.tried.setdefault(minor, []).append(f"none of {PYTHONS_ENV} is {minor}")
        return result
    for minor in minors:
        tried = result.tried.setdefault(minor, [])
        for command in candidates(minor, env):
            interpreter = probe(command)
            if interpreter is not None and interpreter.minor == minor:
                result.found[minor] = interpreter
                break
            tried.append(f"{command} (does not run)" if interpreter is None else command)
        else:
            if not tried:
                tried.append(f"python{minor} on PATH and pyenv's versions: none")
    return result


def requested_minor(text: str) -> str:
    """Check a ``--python`` value: ``"3.12"`` is returned, anything else raises ``ValueError``.

    Versions older than ``OLDEST`` are refused at once: pip would refuse the core only
    after the environment was made. Versions newer than ``SUPPORTED`` are fine if found.
    """
    match = _MINOR.fullmatch(text)
    if match is None:
        raise ValueError(f"--python wants a version such as 3.12, not {text!r}")
    if (3, int(match.group(1))) < OLDEST:
        oldest = ".".join(map(str, OLDEST))
        raise ValueError(f"--python {text}: llmgine needs CPython {oldest} or newer")
    return text


def allowed_missing(env: Mapping[str, str]) -> bool:
    """Whether ``LLMGINE_ALLOW_MISSING_PYTHONS`` (``1``, ``true``, ``yes`` or ``on``, as the
    library's own flags) lets a run without all of ``SUPPORTED`` pass."""
    return env.get(ALLOW_MISSING_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def missing_hint(*, chosen: bool) -> str:
    """What to do about a missing version: of the full set, or the one ``--python`` chose."""
    fixes = f"install it or name it in {PYTHONS_ENV}, which must name every version to run on"
    if chosen:  # the variable that allows missing versions does not apply to a chosen one
        return f"this run fails: the version --python chose is missing ({fixes})"
    allow = f"or set {ALLOW_MISSING_ENV}=1 to allow"
    return f"this run will fail for the missing version ({fixes}; {allow})"
