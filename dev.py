#!/usr/bin/env python3
"""Set up a development environment and run the project's tasks, with only Python 3.11+.

    python3 dev.py example   # run examples/example.py
    python3 dev.py test      # run the whole test suite (extra arguments go to pytest)
    python3 dev.py check     # ruff check, ruff format --check, mypy --strict (core, plugins)
    python3 dev.py bench     # run the benchmarks (extra arguments go to the runner)
    python3 dev.py faults    # the Redis transport's fault matrix (bench/redis_faults.py; needs
                             # redis-server; extra arguments go to it: --quick, --only 1,3, --json)

Each task first makes sure ``.venv`` exists and holds the core and every plugin
under ``plugins/`` installed in editable mode; it reinstalls only when a
``pyproject.toml`` changed. All installs name the local core, so pip never
picks the unrelated ``llmgine`` on PyPI.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("LLMGINE_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
MARKER = VENV / ".llmgine-installed"
BENCH_MARKER = VENV / ".llmgine-bench-installed"


def plugin_dirs() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))


def fingerprint() -> str:
    digest = hashlib.sha256()
    for path in [ROOT / "pyproject.toml", *(p / "pyproject.toml" for p in plugin_dirs())]:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_env() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036  (this script may be run by any python3)
        sys.exit(f"llmgine needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    wanted = fingerprint()
    if MARKER.exists() and MARKER.read_text() == wanted:
        return
    args = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    args += ["-e", f"{ROOT}[test,dev]"]
    for plugin in plugin_dirs():
        extras = "[test]" if "test" in (plugin / "pyproject.toml").read_text() else ""
        args += ["-e", f"{plugin}{extras}"]
    print("installing llmgine and its plugins into", VENV, flush=True)
    if subprocess.run(args).returncode:
        sys.exit("pip could not install the environment (see above); nothing was changed")
    MARKER.write_text(wanted)


def ensure_bench_extra() -> None:
    """Install the ``bench`` extra (the peer libraries the benchmarks compare with), once."""
    wanted = fingerprint()
    if BENCH_MARKER.exists() and BENCH_MARKER.read_text() == wanted:
        return
    print("installing the benchmark peers (llmgine[bench]) into", VENV, flush=True)
    args = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if subprocess.run([*args, "-e", f"{ROOT}[test,dev,bench]"]).returncode:
        sys.exit("pip could not install the bench extra (see above)")
    BENCH_MARKER.write_text(wanted)


def run(*args: str) -> int:
    return subprocess.run([str(PYTHON), *args], cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    task, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if task not in {"example", "test", "check", "bench", "faults"}:
        print(__doc__)
        return 0 if task in {"help", "-h", "--help"} else 2
    ensure_env()
    if task == "example":
        return run(str(ROOT / "examples" / "example.py"), *rest)
    if task == "test":
        code = run("-m", "pytest", *rest)
        return 0 if code == 5 and rest else code  # 5: a selection matched no test
    if task == "bench":
        ensure_bench_extra()
        return run(str(ROOT / "bench" / "run.py"), *rest)
    if task == "faults":  # needs no peers: redis-py comes with the plugin
        return run(str(ROOT / "bench" / "redis_faults.py"), *rest)
    # Each plugin's package is type-checked on its own (their tests share module names).
    packages = [str(p.relative_to(ROOT)) for d in plugin_dirs() for p in d.glob("llmgine_*")]
    for command in (
        ["-m", "ruff", "check", "."],
        ["-m", "ruff", "format", "--check", "."],
        ["-m", "mypy", "--strict", "core/"],
        *(["-m", "mypy", "--strict", package] for package in packages),
    ):
        print("$", " ".join(command[1:]), flush=True)
        if code := run(*command):
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
