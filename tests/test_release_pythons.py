"""How ``dev.py test`` finds the CPythons it runs the suite on, and what it says when one is
missing (tools/pythons.py; fake interpreters are shell scripts answering the probe)."""

from __future__ import annotations

import os
import platform
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tools.pythons import (
    ALLOW_MISSING_ENV,
    PYTHONS_ENV,
    SUPPORTED,
    discover,
    probe,
    pyenv_root,
    requested_minor,
)

ROOT = Path(__file__).resolve().parents[1]
# A minor version no real interpreter on the machine has, so only the fakes answer.
FAKE = "3.98"


def script(path: Path, body: str) -> Path:
    """An executable shell script at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def fake_python(path: Path, version: str, implementation: str = "CPython") -> Path:
    """A script that answers the probe as ``implementation`` ``version`` would."""
    return script(path, f'echo "{implementation} {version} {path}"')


def broken_shim(path: Path) -> Path:
    """What pyenv puts on PATH for a version it does not have: it exists and exits 127."""
    return script(path, f'echo "pyenv: {path.name}: command not found" >&2; exit 127')


def test_the_running_python_probes_as_itself() -> None:
    found = probe(sys.executable)
    assert found is not None
    assert found.version == platform.python_version()
    assert found.minor == f"{sys.version_info[0]}.{sys.version_info[1]}"


def test_shims_that_fail_and_other_pythons_are_not_interpreters(tmp_path: Path) -> None:
    assert probe(str(broken_shim(tmp_path / "python3.12"))) is None
    assert probe(str(fake_python(tmp_path / "pypy3", "3.12.1", "PyPy"))) is None
    assert probe(str(script(tmp_path / "noise", "echo hello"))) is None
    assert probe(str(tmp_path / "does-not-exist")) is None


def test_path_first_then_pyenv_newest_patch_and_failing_shims_are_skipped(
    tmp_path: Path,
) -> None:
    binaries = tmp_path / "bin"
    broken_shim(binaries / f"python{FAKE}")
    root = tmp_path / "pyenv"
    for name in [f"{FAKE}.1", f"{FAKE}.10", f"{FAKE}.2", f"{FAKE}-dev", f"{FAKE}.0t"]:
        fake_python(root / "versions" / name / "bin" / "python", name)
    env = {"PATH": str(binaries), "PYENV_ROOT": str(root)}
    found = discover([FAKE], env)
    assert found.found[FAKE].version == f"{FAKE}.10"
    assert found.tried[FAKE] == [f"{binaries / f'python{FAKE}'} (does not run)"]
    # A working python3.X on PATH is preferred to pyenv's.
    fake_python(binaries / f"python{FAKE}", f"{FAKE}.0")
    assert discover([FAKE], env).found[FAKE].version == f"{FAKE}.0"


def test_a_missing_version_says_where_it_looked(tmp_path: Path) -> None:
    broken_shim(tmp_path / "bin" / f"python{FAKE}")
    found = discover([FAKE, "3.99"], {"PATH": str(tmp_path / "bin"), "PYENV_ROOT": ""})
    assert found.missing([FAKE, "3.99"]) == [FAKE, "3.99"]
    assert found.explain(FAKE) == (
        f"CPython {FAKE} not found (tried: {tmp_path / 'bin' / f'python{FAKE}'} (does not run))"
    )
    assert found.explain("3.99") == (
        "CPython 3.99 not found (tried: python3.99 on PATH and pyenv's versions: none)"
    )


def test_llmgine_pythons_names_the_interpreters_instead(tmp_path: Path) -> None:
    good = fake_python(tmp_path / "py", f"{FAKE}.4")
    shim = broken_shim(tmp_path / "shim")
    # pyenv's would be found by a search: the variable's list is used alone
    fake_python(tmp_path / "pyenv" / "versions" / "3.99.1" / "bin" / "python", "3.99.1")
    env = {
        PYTHONS_ENV: os.pathsep.join([str(shim), str(good)]),
        "PYENV_ROOT": str(tmp_path / "pyenv"),
    }
    found = discover([FAKE, "3.99"], env)
    assert found.found[FAKE].executable == str(good)
    assert found.missing([FAKE, "3.99"]) == ["3.99"]
    assert found.explain("3.99") == (
        f"CPython 3.99 not found (tried: {shim} (does not run), none of {PYTHONS_ENV} is 3.99)"
    )


def test_pyenv_root_comes_from_the_variable_or_the_command(tmp_path: Path) -> None:
    assert pyenv_root({"PYENV_ROOT": "/opt/pyenv"}) == Path("/opt/pyenv")
    script(tmp_path / "pyenv", f'[ "$1" = root ] && echo {tmp_path}/root')
    assert pyenv_root({"PATH": str(tmp_path)}) == tmp_path / "root"
    assert pyenv_root({"PATH": str(tmp_path / "nowhere")}) is None


@pytest.mark.parametrize("bad", ["3.12.1", "312", "3", "", "python3.12"])
def test_python_option_wants_a_minor_version(bad: str) -> None:
    assert requested_minor("3.12") == "3.12"
    with pytest.raises(ValueError, match=r"--python wants a version such as 3\.12, not"):
        requested_minor(bad)


def test_ci_runs_the_three_supported_versions() -> None:
    assert SUPPORTED == ("3.11", "3.12", "3.13")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 dev.py test" in ci
    assert ALLOW_MISSING_ENV not in ci


# dev.py test when interpreters are missing (nothing is installed: nothing is found) -------


def dev_test(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LLMGINE_")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, str(ROOT / "dev.py"), "test", *args],
        env={PYTHONS_ENV: "/nonexistent/python", **environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_missing_python_fails_the_run_and_the_summary_names_it() -> None:
    done = dev_test()
    assert done.returncode == 1
    for minor in SUPPORTED:
        assert f"dev.py: CPython {minor} not found (tried: /nonexistent/python" in done.stdout
        assert f"\n  {minor}: missing\n" in done.stdout
    assert f"set {ALLOW_MISSING_ENV}=1 to allow" in done.stdout


@pytest.mark.parametrize("value", ["1", "true", "Yes"])
def test_allowing_missing_pythons_still_needs_one_to_run(value: str) -> None:
    done = dev_test(**{ALLOW_MISSING_ENV: value})
    assert done.returncode == 1
    assert "  3.12: missing (allowed)" in done.stdout
    assert "dev.py: no supported CPython was found: nothing ran" in done.stdout


def test_a_false_value_does_not_allow_missing_pythons() -> None:
    done = dev_test(**{ALLOW_MISSING_ENV: "0"})
    assert "  3.12: missing\n" in done.stdout  # not "(allowed)"


def test_a_chosen_python_that_is_missing_fails_even_when_missing_ones_are_allowed() -> None:
    done = dev_test("--python", "3.13", **{ALLOW_MISSING_ENV: "1"})
    assert done.returncode == 1
    assert "\n  3.13: missing\n" in done.stdout
    assert "3.11" not in done.stdout


def test_a_bad_python_option_is_refused() -> None:
    done = dev_test("--python", "3.13.0")
    assert done.returncode == 2
    assert "dev.py test: --python wants a version such as 3.12, not '3.13.0'" in done.stderr
