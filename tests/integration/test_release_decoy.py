"""pip resolving a plugin of ours never reaches PyPI's unrelated ``llmgine``.

A local wheel directory holds our core's wheel (``llmgine-messages``, built from this
checkout), the core's third-party requirements, and throwaway plugins; a local PEP 503
index serves a decoy ``llmgine`` 99.0, whose package carries an ``llmgine/DECOY`` file.
pip is cut off from the machine's configuration, so those are all it can see. A
plugin requiring ``llmgine-messages`` must never get the decoy; the negative control,
a plugin still requiring ``llmgine``, gets it (so the test can tell).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import attrs
import pytest
from llmgine import __version__

from .conftest import ROOT

pytestmark = pytest.mark.slow

PLUGIN = """\
import llmgine

@llmgine.hookimpl
def register_commands(register):
    pass
"""

#: Run in the target venv: what got installed, and which llmgine is imported.
INSPECT = """\
import importlib.metadata as m, json, pathlib, llmgine
print(json.dumps({
    "file": llmgine.__file__,
    "version": getattr(llmgine, "__version__", None),
    "decoy": (pathlib.Path(llmgine.__file__).parent / "DECOY").exists(),
    "dists": {d.metadata["Name"]: d.version for d in m.distributions()},
}))
"""


def write_wheel(
    directory: Path,
    name: str,
    version: str,
    files: dict[str, str],
    requires: tuple[str, ...] = (),
    entry_points: str = "",
) -> Path:
    """Write a valid pure-Python wheel (no build backend needed: it holds a few files)."""
    stem = f"{name.replace('-', '_')}-{version}"
    info = f"{stem}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
    contents = {path: text.encode() for path, text in files.items()}
    contents[f"{info}/METADATA"] = metadata.encode()
    contents[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: llmgine-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    if entry_points:
        contents[f"{info}/entry_points.txt"] = entry_points.encode()
    record = []
    for path, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    contents[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = directory / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
    return wheel


def plugin_wheel(directory: Path, name: str, requires: str) -> Path:
    """A throwaway third-party plugin distribution ``name`` requiring ``requires``."""
    package = name.replace("-", "_")
    return write_wheel(
        directory,
        name,
        "1.0",
        {f"{package}/__init__.py": PLUGIN},
        requires=(requires,),
        entry_points=f"[llmgine.plugins]\n{name.removeprefix('llmgine-')} = {package}\n",
    )


def machine_pip(*args: str | Path) -> None:
    """pip with the machine's own configuration (to build and fetch the wheel directory)."""
    argv = [sys.executable, "-m", "pip", "--disable-pip-version-check", *map(str, args)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{argv}:\n{done.stdout}{done.stderr}"


@attrs.frozen
class Sources:
    """The wheel directory and the decoy's index, as pip sees them."""

    base: Path
    wheels: Path
    index_url: str
    decoy: Path

    def install(self, requirement: str) -> tuple[dict[str, object], str]:
        """pip-install ``requirement`` into a fresh venv; what it holds, and pip's output."""
        target = self.base / requirement.partition(">")[0]
        venv.EnvBuilder(with_pip=False).create(target)
        # Nothing of the machine's pip configuration (its extra indexes, find-links).
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
        env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
        python = target / "bin" / "python"
        argv = [sys.executable, "-m", "pip", "--python", str(python), "install"]
        argv += ["--find-links", str(self.wheels), "--index-url", self.index_url, requirement]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        inspect = subprocess.run(
            [str(python), "-I", "-c", INSPECT], capture_output=True, text=True, timeout=60
        )
        assert inspect.returncode == 0, inspect.stderr
        found: dict[str, object] = json.loads(inspect.stdout)
        found["venv"] = str(target)
        return found, output


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    base = tmp_path_factory.mktemp("decoy")
    wheels = base / "wheels"
    machine_pip("wheel", "--no-deps", "--wheel-dir", wheels, ROOT)
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    machine_pip("download", "--only-binary", ":all:", "--dest", wheels, *core)
    plugin_wheel(wheels, "llmgine-thirdparty", "llmgine-messages>=0.2")
    plugin_wheel(wheels, "llmgine-legacy", "llmgine>=0.1")
    simple = base / "index" / "simple"
    (simple / "llmgine").mkdir(parents=True)
    decoy = write_wheel(
        base / "index",
        "llmgine",
        "99.0",
        {"llmgine/__init__.py": "DECOY = True\n", "llmgine/DECOY": "upstream's project\n"},
    )
    digest = hashlib.sha256(decoy.read_bytes()).hexdigest()
    link = f'<a href="{decoy.as_uri()}#sha256={digest}">{decoy.name}</a>'
    (simple / "llmgine" / "index.html").write_text(
        f"<!DOCTYPE html><html><body>{link}</body></html>"
    )
    (simple / "index.html").write_text('<!DOCTYPE html><html><body><a href="llmgine/">llmgine</a>')
    return Sources(base, wheels, simple.as_uri(), decoy)


def test_a_plugin_requiring_llmgine_messages_never_gets_the_decoy(sources: Sources) -> None:
    found, output = sources.install("llmgine-thirdparty")
    dists = found["dists"]
    assert isinstance(dists, dict)
    assert "llmgine" not in dists
    assert dists["llmgine-messages"] == __version__
    assert dists["llmgine-thirdparty"] == "1.0"
    assert found["decoy"] is False
    assert found["version"] == __version__
    assert Path(str(found["file"])).is_relative_to(str(found["venv"]))
    assert sources.decoy.name not in output
    assert "llmgine-99.0" not in output
    # and the plugin loads on that core
    llmgine = Path(str(found["venv"])) / "bin" / "llmgine"
    done = subprocess.run(
        [str(llmgine), "plugins", "--json"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    [row] = [row for row in json.loads(done.stdout) if row["name"] == "thirdparty"]
    assert row["state"] != "error", row
    assert row["distribution"] == "llmgine-thirdparty"


def test_negative_control_a_plugin_requiring_llmgine_gets_the_decoy(sources: Sources) -> None:
    """The decoy is reachable: the test above would see it if our names pulled it in."""
    found, output = sources.install("llmgine-legacy")
    dists = found["dists"]
    assert isinstance(dists, dict)
    assert dists.get("llmgine") == "99.0"
    assert "llmgine-messages" not in dists
    assert found["decoy"] is True
    assert sources.decoy.name in output
