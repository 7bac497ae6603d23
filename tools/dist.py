"""Build, check and smoke-test the release artefacts: ``python3 dev.py dist [--release] [--keep]``.

1. ``python -m build`` makes an sdist of the core and of every plugin, then a wheel
   *from that sdist*, into ``dist/``: a file the sdist lacks breaks the wheel here.
2. Each wheel holds exactly the git-tracked files of its package, each sdist its
   ``pyproject.toml``, README and package; the metadata has the version, the
   classifiers, and for a plugin the core requirement. ``twine check --strict`` passes.
3. Versions, CHANGELOG and classifiers agree (``tools/versions.py``; ``--release``
   also requires the version's CHANGELOG heading to be released).
4. The smoke test (``tools/smoke.py``) installs only these wheels in a fresh virtual
   environment and runs the seed's snippets, ``llmgine plugins`` and ``llmgine new-plugin``.

Runs in the development environment (it needs ``build`` and ``twine``).
"""

from __future__ import annotations

import argparse
import email.parser
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

from .pythons import SUPPORTED
from .smoke import SmokeError, smoke_test
from .versions import ROOT, Changelog, Project, core_requirement, core_version, projects

DIST = ROOT / "dist"


class DistError(Exception):
    """An artefact is missing or wrong; the message names it and what is wrong."""


def say(message: str) -> None:
    """One progress line."""
    print(f"dev.py dist: {message}", flush=True)


def build(project: Project) -> tuple[Path, Path]:
    """Build the project's sdist, then its wheel from the sdist, into ``dist/``."""
    started = time.monotonic()
    argv = [sys.executable, "-m", "build", "--outdir", str(DIST), str(project.directory)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode:
        raise DistError(f"python -m build failed for {project.name}:\n{done.stdout}{done.stderr}")
    sdist = DIST / f"{project.file_stem()}.tar.gz"
    wheel = DIST / f"{project.file_stem()}-py3-none-any.whl"
    for path in (sdist, wheel):
        if not path.is_file():
            raise DistError(f"{project.name}: the build made no {path.name} in {DIST}")
    took = time.monotonic() - started
    say(f"built {sdist.name} and, from it, {wheel.name} ({took:.0f} s)")
    return sdist, wheel


def shown(path: Path) -> str:
    """``path`` as messages show it: relative to the checkout when it is inside."""
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def tracked(directory: Path) -> set[str]:
    """The git-tracked files under ``directory``, relative to it."""
    argv = ["git", "ls-files", "-z", "--", "."]
    try:
        done = subprocess.run(argv, cwd=directory, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        message = f"git ls-files failed in {directory} (run dist in a git checkout): {exc}"
        raise DistError(message) from exc
    return {name for name in done.stdout.decode().split("\0") if name}


def package_files(project: Project) -> dict[str, str]:
    """Where each tracked package file goes in the wheel -> its path in the repository.

    A package directory the pyproject names must exist and hold tracked files: a typo
    there would otherwise build a wheel without the package.
    """
    files: dict[str, str] = {}
    for package in project.wheel_packages:
        source = project.directory / package
        named = (
            f"{shown(project.directory / 'pyproject.toml')} names the package directory "
            f"{package!r} ([tool.hatch.build.targets.wheel] packages)"
        )
        if not source.is_dir():
            raise DistError(f"{named}, but {shown(source)} does not exist")
        names = tracked(source)
        if not names:
            raise DistError(f"{named}, but git tracks no file in {shown(source)}")
        top = Path(package).name  # hatchling installs a package under its last path component
        for name in names:
            files[f"{top}/{name}"] = (source / name).relative_to(project.directory).as_posix()
    return files


def check_wheel(project: Project, wheel: Path) -> None:
    """The wheel holds exactly the package's tracked files, and the metadata is right."""
    expected = package_files(project)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"{project.file_stem()}.dist-info"
        metadata = email.parser.Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = (
            archive.read(f"{info}/entry_points.txt").decode()
            if f"{info}/entry_points.txt" in names
            else ""
        )
    packaged = {name for name in names if not name.startswith(f"{info}/")}
    problems = [f"missing {expected[name]}" for name in sorted(set(expected) - packaged)]
    problems += [f"unexpected {name}" for name in sorted(packaged - set(expected))]
    if metadata["Name"] != project.name or metadata["Version"] != project.version:
        problems.append(f"metadata says {metadata['Name']} {metadata['Version']}")
    classifiers = set(metadata.get_all("Classifier") or [])
    for minor in SUPPORTED:
        if f"Programming Language :: Python :: {minor}" not in classifiers:
            problems.append(f"no 'Programming Language :: Python :: {minor}' classifier")
    if not project.is_core:
        wanted = Requirement(core_requirement(project.version))
        requires = [Requirement(text) for text in metadata.get_all("Requires-Dist") or []]
        if not any(r.name == wanted.name and r.specifier == wanted.specifier for r in requires):
            problems.append(f"Requires-Dist lacks {wanted} (has {', '.join(map(str, requires))})")
        if "[llmgine.plugins]" not in entry_points:
            problems.append("no [llmgine.plugins] entry point")
    if problems:
        raise DistError(f"{wheel.name}: " + "; ".join(problems))


def check_sdist(project: Project, sdist: Path) -> None:
    """The sdist holds what building it needs: pyproject.toml, the README, the package."""
    with tarfile.open(sdist) as archive:
        top = f"{project.file_stem()}/"
        names = {m.name.removeprefix(top) for m in archive.getmembers() if m.isfile()}
    needed = {"pyproject.toml", "PKG-INFO", "README.md", *package_files(project).values()}
    if missing := sorted(needed - names):
        raise DistError(f"{sdist.name} lacks {', '.join(missing)}")


def check_versions(all_projects: list[Project], released: bool) -> None:
    """Every project has the core's version; the CHANGELOG rule holds (tools/versions.py)."""
    version = core_version()
    problems = [f"{p.name} is {p.version}" for p in all_projects if p.version != version]
    changelog = Changelog.parse((ROOT / "CHANGELOG.md").read_text())
    problems += changelog.check(version, released=released)
    if problems:
        raise DistError(f"versions disagree with {version}: " + "; ".join(problems))
    say(f"versions agree: every distribution is {version}; CHANGELOG: {changelog.state(version)}")


def clean() -> None:
    """Remove the artefacts of earlier builds, so that only this build's are installed."""
    DIST.mkdir(exist_ok=True)
    for path in [*DIST.glob("*.whl"), *DIST.glob("*.tar.gz")]:
        path.unlink()


def main(argv: list[str]) -> int:
    """Build and check every artefact, then smoke-test the wheels; 0 when all is well."""
    parser = argparse.ArgumentParser(prog="python3 dev.py dist", description=__doc__)
    parser.add_argument(
        "--release", action="store_true", help="also require the version to be released"
    )
    parser.add_argument("--keep", action="store_true", help="keep the smoke test's directory")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        all_projects = projects()
        check_versions(all_projects, args.release)
        for project in all_projects:  # before minutes of building: a wrong package path
            package_files(project)
        clean()
        wheels: list[Path] = []
        artefacts: list[str] = []
        for project in all_projects:
            sdist, wheel = build(project)
            check_sdist(project, sdist)
            check_wheel(project, wheel)
            wheels.append(wheel)
            artefacts += [str(sdist), str(wheel)]
        say("each sdist has its package and pyproject; each wheel exactly its package's files")
        twine = [sys.executable, "-m", "twine", "check", "--strict", *artefacts]
        done = subprocess.run(twine, capture_output=True, text=True, check=False)
        if done.returncode:
            raise DistError(f"twine check --strict failed:\n{done.stdout}{done.stderr}")
        say(f"twine check --strict: {len(artefacts)} artefacts pass")
        smoke_test(all_projects, wheels, keep=args.keep)
    except (DistError, SmokeError) as exc:
        print(f"dev.py dist: FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130  # Ctrl-C: dev.py, which runs this, says so in one line
    say(f"all checks passed in {time.monotonic() - started:.0f} s; the artefacts are in {DIST}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
