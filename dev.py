#!/usr/bin/env python3
"""Set up development environments and run the project's tasks, with only Python 3.11+.

    python3 dev.py example              # run examples/example.py (installs only what it needs)
    python3 dev.py example chat         # run examples/chat_server.py, an LLM chat server
    python3 dev.py example tools        # run examples/tools_example.py, commands as LLM tools
    python3 dev.py test [--python X.Y]  # the whole suite on CPython 3.11, 3.12 and 3.13
                                        # (other arguments go to pytest)
    python3 dev.py check                # ruff check, ruff format --check, mypy --strict
    python3 dev.py docs [serve]         # mkdocs build --strict into site/; serve: 127.0.0.1:8000
    python3 dev.py dist                 # build, check and smoke-test the wheels and sdists (dist/)
    python3 dev.py bench [--python X.Y] # the benchmarks (other arguments go to bench/run.py)
    python3 dev.py faults               # the Redis transport's fault matrix (needs redis-server;
                                        # bench/redis_faults.py: --quick, --only 1,3, --json)

Environments: ``.venv`` for the Python running this script, ``.venv-3.X`` for the
others ``test`` runs on. ``example`` installs the core and the plugin the example
uses (``example chat`` adds llmgine-otel and an OpenTelemetry SDK); every other task
installs the whole development environment (editable), on top. A task reinstalls
only after a ``pyproject.toml`` or the core's version changed.

``test`` looks for each CPython as ``python3.X`` on PATH, then in ``pyenv root``'s
versions. LLMGINE_PYTHONS replaces that search by the interpreters it names (paths or
commands, ``:``-separated), so it names every one to run on, 3.11 included, e.g.
``LLMGINE_PYTHONS=python3.11:/opt/py312/bin/python3.12:/opt/py313/bin/python3.13``.
It fails when one of 3.11, 3.12, 3.13 is missing, unless LLMGINE_ALLOW_MISSING_PYTHONS=1.
``--python X.Y`` runs on that version only (3.11 or newer), which must be found.
Ctrl-C stops any task with exit status 130; an environment whose creation or install
it cut short is made again by the next run.
"""

from __future__ import annotations

import os
import platform
import sys
import time

if sys.version_info < (3, 11):  # noqa: UP036  (this script may be run by any python3)
    sys.exit(f"llmgine needs Python 3.11 or newer; this is {sys.version.split()[0]}")

from tools.devenv import ROOT, DevEnv, SetupError, call, plugin_dirs, step
from tools.pythons import (
    SUPPORTED,
    Interpreter,
    allowed_missing,
    discover,
    missing_hint,
    requested_minor,
)

TASKS = ("example", "test", "check", "docs", "dist", "bench", "faults")


def running() -> DevEnv:
    """The environment of the interpreter running this script (``.venv``)."""
    return DevEnv(Interpreter(sys.executable, platform.python_version()))


def run(env: DevEnv, *args: str) -> int:
    """Run the environment's Python with ``args`` from the checkout's root."""
    return call([str(env.python), *args], cwd=ROOT)


def split_python(args: list[str]) -> tuple[str | None, list[str]]:
    """Take ``--python X.Y`` (or ``--python=X.Y``) out of ``args``."""
    rest: list[str] = []
    chosen: str | None = None
    items = iter(args)
    for arg in items:
        if arg == "--python":
            chosen = next(items, "")
        elif arg.startswith("--python="):
            chosen = arg.partition("=")[2]
        else:
            rest.append(arg)
    return (None if chosen is None else requested_minor(chosen)), rest


def one_env(minor: str | None) -> DevEnv:
    """The environment of CPython ``minor`` (``None``: the running one); exits if not found."""
    if minor is None:
        return running()
    discovery = discover([minor])
    if minor not in discovery.found:
        sys.exit(f"dev.py: {discovery.explain(minor)}")
    return DevEnv(discovery.found[minor])


def pytest_outcome(status: int, selection: bool) -> tuple[str, int]:
    """The summary's word for pytest's exit ``status``, and the status the run gets from it.

    5 is pytest's "no test collected": with a ``selection`` (any pytest argument, such
    as ``-k`` or a path) it is not a failure, and the summary says so rather than passed.
    """
    if status == 0:
        return "passed", 0
    if status == 5:
        return ("no test selected", 0) if selection else ("FAILED (no test collected)", 5)
    return f"FAILED (pytest exit status {status})", status


def task_test(args: list[str]) -> int:
    """The suite on each supported CPython found, then a summary of which ran and passed."""
    chosen, pytest_args = split_python(args)
    minors = [chosen] if chosen else list(SUPPORTED)
    discovery = discover(minors)
    missing = discovery.missing(minors)
    for minor in missing:
        step(discovery.explain(minor))
    allowed = allowed_missing(os.environ) and not chosen
    if missing and not allowed:
        step(missing_hint(chosen=chosen is not None))
    results: list[tuple[str, str, int]] = []
    for minor in minors:
        if minor not in discovery.found:
            outcome = "missing (allowed)" if allowed else "missing"
            results.append((minor, outcome, 0 if allowed else 1))
            continue
        env = DevEnv(discovery.found[minor])
        try:
            env.ensure("full")
        except SetupError as exc:
            results.append((minor, f"not run: {exc}", 1))
            continue
        step(f"pytest on CPython {env.interpreter.version} ({env.name})")
        started = time.monotonic()
        what, code = pytest_outcome(run(env, "-m", "pytest", *pytest_args), bool(pytest_args))
        where = f"CPython {env.interpreter.version} in {env.name}"
        results.append((minor, f"{what}, {where}, {time.monotonic() - started:.0f} s", code))
    step("summary of the test runs:")
    for minor, outcome, _ in results:
        print(f"  {minor}: {outcome}", flush=True)
    if not discovery.found:
        step("no supported CPython was found: nothing ran")
        return 1
    return next((code for _, _, code in results if code), 0)


def task_check(env: DevEnv) -> int:
    """ruff, ruff format --check and mypy --strict, stopping at the first that fails."""
    # Each plugin's package is type-checked on its own (their tests share module names).
    packages = [str(p.relative_to(ROOT)) for d in plugin_dirs() for p in d.glob("llmgine_*")]
    for command in (
        ["-m", "ruff", "check", "."],
        ["-m", "ruff", "format", "--check", "."],
        ["-m", "mypy", "--strict", "core/"],
        *(["-m", "mypy", "--strict", package] for package in packages),
        ["-m", "mypy", "--strict", "dev.py", "tools/"],
    ):
        print("$", " ".join(command[1:]), flush=True)
        if code := run(env, *command):
            return code
    return 0


def task_docs(args: list[str]) -> int:
    """``mkdocs build --strict`` (the site goes to site/), or ``mkdocs serve`` on loopback."""
    if not (ROOT / "mkdocs.yml").is_file():
        print(f"dev.py docs: no mkdocs.yml in {ROOT}: there is no documentation site to build")
        return 2
    env = running().ensure("full")
    # mkdocs-material prints a banner about MkDocs 2.0 on every build unless this is set.
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    if args[:1] == ["serve"]:
        return run(env, "-m", "mkdocs", "serve", "--dev-addr", "127.0.0.1:8000", *args[1:])
    return run(env, "-m", "mkdocs", "build", "--strict", *args)


def main(argv: list[str]) -> int:
    """Run the task ``argv[0]`` with the rest of ``argv``; print the usage for anything else."""
    task, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if task not in TASKS:
        print(__doc__)
        return 0 if task in {"help", "-h", "--help"} else 2
    try:
        if task == "test":
            return task_test(rest)
        if task == "example":
            if rest[:1] == ["chat"]:
                env = running().ensure("chat")
                step("running examples/chat_server.py")
                return run(env, str(ROOT / "examples" / "chat_server.py"), *rest[1:])
            env = running().ensure("example")
            if rest[:1] == ["tools"]:  # the core alone: the "example" level has it
                step("running examples/tools_example.py")
                return run(env, str(ROOT / "examples" / "tools_example.py"), *rest[1:])
            step("running examples/example.py")
            return run(env, str(ROOT / "examples" / "example.py"), *rest)
        if task == "bench":
            minor, rest = split_python(rest)
            return run(one_env(minor).ensure("bench"), str(ROOT / "bench" / "run.py"), *rest)
        if task == "docs":
            return task_docs(rest)
        env = running().ensure("full")
        if task == "check":
            return task_check(env)
        if task == "dist":
            return run(env, "-m", "tools.dist", *rest)
        # faults needs no peers: redis-py comes with the plugin
        return run(env, str(ROOT / "bench" / "redis_faults.py"), *rest)
    except (SetupError, ValueError) as exc:
        print(f"dev.py {task}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # The programs dev.py ran have stopped (tools/devenv.py's call): one line, no traceback,
        # under the terminal's ^C rather than after it.
        lead = "\n" if sys.stderr.isatty() else ""
        print(f"{lead}dev.py {task}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
