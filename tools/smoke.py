"""The release smoke test: the built wheels, and nothing of the checkout, in a fresh venv.

The environment gets only the wheels ``dev.py dist`` built (by file name; their
third-party dependencies come from the configured index), and every program runs
from a temporary directory with ``-I``, so neither the checkout nor ``PYTHONPATH``
is on ``sys.path``. There it runs the seed's usage snippets (the ones
``tests/test_seed_snippets.py`` holds), ``llmgine plugins``, and ``llmgine
new-plugin`` followed by installing the new plugin and running its tests.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import venv
from pathlib import Path

from .versions import ROOT, Project

SEED_SNIPPETS = ("SUBSCRIBER", "BASIC", "ASYNC", "CUSTOM_HANDLER")
#: Run in the smoke venv: where each of our distributions came from, and where llmgine is.
PROVENANCE = """
import importlib.metadata as m, json, sys, llmgine
names = sys.argv[1:]
print(json.dumps({
    "llmgine": llmgine.__file__,
    "path": sys.path,
    "urls": {n: json.loads(m.distribution(n).read_text("direct_url.json") or "{}").get("url")
             for n in names},
}))
"""


class SmokeError(Exception):
    """A step of the smoke test failed; the message names the step and shows its output."""


class SmokeEnv:
    """A fresh venv in a temporary directory, and a way to run commands there."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.bin = base / "venv" / "bin"
        venv.EnvBuilder(with_pip=True).create(base / "venv")
        # The checkout must not leak in through the environment either.
        self.environ = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("LLMGINE_")
            and key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
        }

    def run(self, label: str, *argv: str | Path, cwd: Path | None = None) -> str:
        """Run ``argv`` (a program of the venv's ``bin/`` or a path) and return its output."""
        program, *args = map(str, argv)
        command = [str(self.bin / program) if "/" not in program else program, *args]
        done = subprocess.run(
            command,
            cwd=cwd or self.base,
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if done.returncode:
            shown = " ".join(command)
            raise SmokeError(
                f"{label}: `{shown}` exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def pip_install(self, label: str, *args: str | Path) -> None:
        """``pip install`` into the venv."""
        self.run(label, "python", "-m", "pip", "install", "--disable-pip-version-check", *args)


def say(message: str) -> None:
    """One progress line."""
    print(f"dev.py dist: {message}", flush=True)


def check_provenance(env: SmokeEnv, projects: list[Project], wheels: list[Path]) -> None:
    """Each of our distributions came from its wheel; llmgine is the venv's, not the checkout's."""
    names = [project.name for project in projects]
    out = env.run("provenance", "python", "-I", "-c", PROVENANCE, *names)
    found = json.loads(out)
    site = (env.base / "venv").resolve()
    if not Path(found["llmgine"]).resolve().is_relative_to(site):
        raise SmokeError(f"llmgine was imported from {found['llmgine']}, not from {site}")
    for entry in found["path"]:
        if entry and Path(entry).resolve().is_relative_to(ROOT):
            raise SmokeError(f"the checkout is on the smoke venv's sys.path: {entry}")
    for name, wheel in zip(names, wheels, strict=True):
        if found["urls"][name] != wheel.resolve().as_uri():
            raise SmokeError(f"{name} was installed from {found['urls'][name]}, not {wheel}")


def run_seed_snippets(env: SmokeEnv) -> None:
    """The seed's usage snippets, as ``tests/test_seed_snippets.py`` holds them."""
    module = importlib.import_module("tests.test_seed_snippets")
    snippets = {name: getattr(module, name) for name in SEED_SNIPPETS}
    (env.base / "snippets.json").write_text(json.dumps(snippets))
    program = ROOT / "tools" / "smoke_seed.py"
    out = env.run("seed snippets", env.bin / "python", "-I", program, "snippets.json")
    say(f"the seed's snippets ran on the installed wheels: {out.strip().splitlines()[-1]}")


def check_plugins(env: SmokeEnv, expected: dict[str, Project]) -> list[dict[str, object]]:
    """``llmgine plugins`` runs and its JSON lists each of ``expected``, none in error."""
    env.run("llmgine plugins", "llmgine", "plugins")
    rows: list[dict[str, object]] = json.loads(
        env.run("llmgine plugins --json", "llmgine", "plugins", "--json")
    )
    by_name = {row["name"]: row for row in rows}
    problems = []
    for name, project in expected.items():
        row = by_name.get(name)
        if row is None:
            problems.append(f"{name} is not listed")
        elif row["state"] in {"error", "disabled"} or row["error"]:
            problems.append(f"{name} is {row['state']}: {row['error']}")
        elif (row["distribution"], row["version"]) != (project.name, project.version):
            problems.append(f"{name} comes from {row['distribution']} {row['version']}")
    if problems:
        raise SmokeError("llmgine plugins: " + "; ".join(problems))
    return rows


def check_new_plugin(env: SmokeEnv, dist: Path) -> None:
    """``llmgine new-plugin``'s plugin installs next to the wheels and its tests pass."""
    target = env.base / "llmgine-greeter"
    env.run("llmgine new-plugin", "llmgine", "new-plugin", "greeter", "--dir", target)
    # not editable, as a user's CI would install it; the core is the wheel already installed
    env.pip_install("installing the new plugin", "--find-links", dist, f"{target}[test]")
    listed = {row["name"] for row in json.loads(env.run("plugins", "llmgine", "plugins", "--json"))}
    if "greeter" not in listed:
        raise SmokeError(f"llmgine plugins does not list the new plugin 'greeter': {listed}")
    out = env.run(
        "the new plugin's tests", "python", "-m", "pytest", "-p", "no:cacheprovider", cwd=target
    )
    summary = out.strip().splitlines()[-1]
    say(f"llmgine new-plugin: its plugin installs and its tests pass ({summary})")


def smoke_test(projects: list[Project], wheels: list[Path], *, keep: bool = False) -> None:
    """Install only ``wheels`` in a fresh venv and run the smoke checks there."""
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="llmgine-dist-"))
    try:
        env = SmokeEnv(base)
        env.pip_install("installing the wheels", *wheels)
        check_provenance(env, projects, wheels)
        say(f"a fresh venv holds the {len(wheels)} wheels ({time.monotonic() - started:.0f} s)")
        run_seed_snippets(env)
        plugins = {name: p for p in projects for name in p.plugin_names}
        check_plugins(env, plugins)
        say(f"llmgine plugins lists {', '.join(sorted(plugins))}, none in error")
        check_new_plugin(env, wheels[0].parent)
    finally:
        if keep:
            say(f"kept the smoke test's directory: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
