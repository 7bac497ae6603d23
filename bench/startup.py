"""Start-up cost: importing llmgine and ``register_handlers()`` with 0 and 50 plugins.

Each figure is the wall time of a fresh ``python -I -c ...`` subprocess minus that of
``python -I -c pass`` in the same environment (median over repetitions, all variants
interleaved so machine noise hits them alike).

Two throwaway virtual environments are built once and cached under
``bench/.cache/`` (keyed by the core's pyproject and this module's version): one
with only the core (installed editable, so core edits are measured without a
rebuild) and one with the core plus 50 tiny generated plugin distributions, each a
real wheel with an ``llmgine.plugins`` entry point that registers one command
handler and one subscriber.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import time
import venv
import zipfile
from collections import defaultdict
from pathlib import Path

__all__ = ["measure_startup"]

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
N_PLUGINS = 50
_VERSION = "1"  # bump when the generated environments change

_PLUGIN_SOURCE = '''"""Generated benchmark plugin {i}."""
import llmgine
from llmgine.messages.commands import Command
from llmgine.messages.events import Event


class Ping{i}(Command[int]):
    pass


class Pinged{i}(Event):
    event_type = "bench.pinged{i}"


def _handle(command):
    return {i}


def _on_pinged(event):
    return None


@llmgine.hookimpl
def register_commands(register):
    register(Ping{i}, _handle)


@llmgine.hookimpl
def register_subscribers(subscribe):
    subscribe(Pinged{i}, _on_pinged)
'''

IMPORT_CORE = "import llmgine.messages.handlers"
REGISTER = "from llmgine.messages.handlers import register_handlers; register_handlers()"
CLI_PLUGINS = "from llmgine.cli import main; main(['plugins'])"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


#: the bench plugins' core requirement: this core's minor series, as real plugins pin it
_CORE_VERSION = (ROOT / "core" / "llmgine" / "_version.py").read_text().split('"')[1]
_major, _minor = (int(part) for part in _CORE_VERSION.split(".")[:2])
_REQUIRES = f"llmgine-messages<{_major}.{_minor + 1},>={_major}.{_minor}"


def _write_wheel(i: int, directory: Path) -> Path:
    """Write a minimal, valid wheel for plugin ``i`` (no build backend needed)."""
    dist, pkg, version = f"llmgine_bench_plugin_{i:02d}", f"llmgine_bench_plugin_{i:02d}", "1.0"
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{pkg}/__init__.py": _PLUGIN_SOURCE.format(i=i).encode(),
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: {version}\n"
            f"Requires-Dist: {_REQUIRES}\n"
        ).encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: llmgine-bench\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
        f"{info}/entry_points.txt": f"[llmgine.plugins]\nbench-plugin-{i:02d} = {pkg}\n".encode(),
    }
    record = [_record_line(name, data) for name, data in files.items()]
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = directory / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
    return path


def _python(env_dir: Path) -> Path:
    return env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"


def _pip_install(env_dir: Path, *args: str) -> None:
    command = [sys.executable, "-m", "pip", "--python", str(_python(env_dir)), "install"]
    command += ["-q", "--disable-pip-version-check", *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"pip failed building the start-up benchmark env:\n{done.stderr}")


def environments(log: bool = True) -> tuple[Path, Path]:
    """Return (core-only env, core + 50 plugins env), building them if not cached."""
    key = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + (_VERSION + _CORE_VERSION + sys.version).encode()
    ).hexdigest()[:12]
    base = CACHE / f"startup-{key}"
    env0, env50, marker = base / "core", base / f"core+{N_PLUGINS}", base / "complete"
    if marker.exists():
        return env0, env50
    if log:
        print(f"building start-up benchmark environments in {base} (once)...", flush=True)
    shutil.rmtree(base, ignore_errors=True)
    wheels = base / "wheels"
    wheels.mkdir(parents=True)
    built = [str(_write_wheel(i, wheels)) for i in range(1, N_PLUGINS + 1)]
    for env_dir in (env0, env50):
        venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env_dir)
    # the core from this checkout, editable; llmgine must never resolve to PyPI's
    _pip_install(env0, "-e", str(ROOT))
    _pip_install(env50, "-e", str(ROOT), *built)
    marker.write_text("ok\n")
    return env0, env50


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("LLMGINE_", "PYTHON"))}


def _check(py: Path, expected: int) -> None:
    code = f"{REGISTER.split(';')[0]}; print(len(register_handlers()))"
    out = subprocess.run(
        [str(py), "-I", "-c", code], capture_output=True, text=True, env=_clean_env()
    )
    if out.returncode or out.stdout.strip() != str(expected):
        raise RuntimeError(
            f"{py}: expected {expected} plugins, got {out.stdout.strip()!r}\n{out.stderr}"
        )


def _importtime(py: Path, code: str, reps: int) -> dict[str, float]:
    """Median self import time (ns) by owner: llmgine, its dependencies, the stdlib."""
    totals: dict[str, list[float]] = defaultdict(list)
    for _ in range(reps):
        out = subprocess.run(
            [str(py), "-I", "-X", "importtime", "-c", code],
            capture_output=True,
            text=True,
            env=_clean_env(),
        )
        sums: dict[str, float] = defaultdict(float)
        for line in out.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, _, name = (part.strip() for part in line[12:].split("|"))
            top = name.split(".")[0]
            owner = (
                "llmgine"
                if top == "llmgine"
                else "deps"
                if top in {"attr", "attrs", "pluggy", "packaging"}
                else "stdlib"
            )
            sums[owner] += float(self_us) * 1000
        for owner in ("llmgine", "deps", "stdlib"):
            totals[owner].append(sums[owner])
    return {owner: statistics.median(values) for owner, values in totals.items()}


def measure_startup(reps: int, log: bool = True) -> dict[str, dict[str, float]]:
    """Return {row name: {"ns": net median ns, "raw": raw median ns}} for the start-up rows."""
    env0, env50 = environments(log)
    py0, py50 = _python(env0), _python(env50)
    _check(py0, 0)
    _check(py50, N_PLUGINS)
    variants = {
        "pass": (py0, "pass"),
        "pass50": (py50, "pass"),
        "startup_deps": (py0, "import attrs, pluggy"),
        "startup_import": (py0, "import llmgine"),
        "startup_core": (py0, IMPORT_CORE),
        "register_0": (py0, REGISTER),
        "register_50": (py50, REGISTER),
        "cli_plugins_0": (py0, CLI_PLUGINS),
        "cli_plugins_50": (py50, CLI_PLUGINS),
    }
    env = _clean_env()
    times: dict[str, list[int]] = defaultdict(list)
    for _ in range(reps):
        for name, (py, code) in variants.items():
            t0 = time.perf_counter_ns()
            subprocess.run(
                [str(py), "-I", "-c", code], env=env, check=True, stdout=subprocess.DEVNULL
            )
            times[name].append(time.perf_counter_ns() - t0)
    raw = {name: statistics.median(values) for name, values in times.items()}
    rows = {}
    for name, value in raw.items():
        if name.startswith("pass"):
            continue
        base = raw["pass50"] if name.endswith("_50") else raw["pass"]
        rows[name] = {"ns": value - base, "raw": value}
    rows["startup_own"] = {"ns": rows["startup_core"]["ns"] - rows["startup_deps"]["ns"]}
    rows["pass"] = {"ns": raw["pass"], "raw": raw["pass"]}
    for owner, ns in _importtime(py0, IMPORT_CORE, max(3, reps // 3)).items():
        rows[f"importtime_{owner}"] = {"ns": ns}
    return rows
