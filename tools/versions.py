"""The version rules a release must follow, read from the files (standard library only).

The CHANGELOG rule. ``CHANGELOG.md``'s release headings read ``## [X.Y.Z] - YYYY-MM-DD``
(headings of old releases may lack the date), newest first, each version once. The
core's ``__version__`` (the version of every distribution in the repository: they are
released together) is either

* **released**: the newest release heading is ``## [__version__] - date``, and no
  ``## [Unreleased]`` section comes before it; or
* **in the making**: ``## [Unreleased]`` is the first heading and targets
  ``__version__``, which is newer than the newest release heading.

``python3 dev.py dist`` checks artefacts in either state; ``dev.py dist --release``
(run before publishing) requires the first.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
UNRELEASED: Final = "## [Unreleased]"
_HEADING = re.compile(r"^## \[(?P<name>[^\]]*)\](?P<rest>.*)$", re.M)
_RELEASE = re.compile(r"(?P<version>\d+\.\d+\.\d+)")
_DATE = re.compile(r"( - \d{4}-\d{2}-\d{2})?")


def version_key(version: str) -> tuple[int, ...]:
    """``"0.10.1"`` -> ``(0, 10, 1)``, for ordering."""
    return tuple(int(part) for part in version.split("."))


def core_version(root: Path = ROOT) -> str:
    """The core's ``__version__``, read from ``core/llmgine/_version.py`` without importing it."""
    text = (root / "core" / "llmgine" / "_version.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    if match is None:
        raise ValueError('core/llmgine/_version.py has no __version__ = "X.Y.Z" line')
    return match.group(1)


def core_requirement(version: str) -> str:
    """What every plugin requires of the core of ``version``: its minor series."""
    major, minor = version_key(version)[:2]
    return f"llmgine-messages>={major}.{minor},<{major}.{minor + 1}"


@dataclass(frozen=True)
class Project:
    """One distribution of the repository: the core or a plugin, as its pyproject says."""

    directory: Path
    metadata: dict[str, Any]
    wheel_packages: tuple[str, ...]

    @property
    def name(self) -> str:
        """The distribution name."""
        return str(self.metadata["name"])

    @property
    def version(self) -> str:
        """The static version, or the core's for a dynamic one."""
        return str(self.metadata.get("version") or core_version(self.directory))

    @property
    def is_core(self) -> bool:
        """Whether this is the core (``llmgine-messages``)."""
        return self.name == "llmgine-messages"

    @property
    def plugin_names(self) -> list[str]:
        """The names of its ``llmgine.plugins`` entry points."""
        return sorted(self.metadata.get("entry-points", {}).get("llmgine.plugins", {}))

    def file_stem(self) -> str:
        """``llmgine_messages-0.3.0``: how wheel and sdist file names start."""
        return f"{re.sub(r'[-_.]+', '_', self.name).lower()}-{self.version}"


def load_project(directory: Path) -> Project:
    """The project whose ``pyproject.toml`` is in ``directory``."""
    data = tomllib.loads((directory / "pyproject.toml").read_text())
    wheel = data.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {})
    packages = tuple(wheel.get("wheel", {}).get("packages", ()))
    return Project(directory, data["project"], packages)


def projects(root: Path = ROOT) -> list[Project]:
    """The core, then every plugin under ``plugins/`` in name order."""
    plugins = sorted(p.parent for p in (root / "plugins").glob("*/pyproject.toml"))
    return [load_project(root), *(load_project(p) for p in plugins)]


@dataclass
class Changelog:
    """The headings of ``CHANGELOG.md`` that the version rule is about."""

    unreleased_first: bool = False
    #: release versions with their heading's date part (`` - 2026-12-06`` or ``""``), in file order
    releases: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Changelog:
        """Read the ``## [...]`` headings; malformed ones are listed in ``problems``."""
        log = cls()
        for index, match in enumerate(_HEADING.finditer(text)):
            name, rest = match.group("name"), match.group("rest")
            if name == "Unreleased":
                if index:
                    log.problems.append(f"{UNRELEASED} must be the first heading")
                log.unreleased_first = index == 0
            elif not _RELEASE.fullmatch(name) or not _DATE.fullmatch(rest):
                log.problems.append(f"heading {match.group(0)!r} is not '## [X.Y.Z] - YYYY-MM-DD'")
            else:
                log.releases.append((name, rest))
        versions = [version for version, _ in log.releases]
        for version in sorted({v for v in versions if versions.count(v) > 1}):
            log.problems.append(f"[{version}] has more than one heading")
        if versions != sorted(versions, key=version_key, reverse=True):
            log.problems.append("release headings are not newest first")
        return log

    def check(self, version: str, *, released: bool = False) -> list[str]:
        """What breaks the CHANGELOG rule for ``version`` (``released``: it must be released)."""
        problems = list(self.problems)
        newest = self.releases[0][0] if self.releases else None
        if not self.unreleased_first:
            if newest != version or not self.releases[0][1]:
                problems.append(
                    f"{version} has neither {UNRELEASED} first (targeting it) nor "
                    f"'## [{version}] - DATE' as the newest release heading"
                )
        elif released:
            problems.append(
                f"{version} is not released: replace {UNRELEASED} with '## [{version}] - DATE'"
            )
        elif newest is not None and version_key(newest) >= version_key(version):
            problems.append(
                f"{UNRELEASED} targets {version}, which is not newer than "
                f"the released {newest}: raise __version__"
            )
        return problems

    def state(self, version: str) -> str:
        """One line saying whether ``version`` is released or in the making."""
        if self.unreleased_first:
            return f"{version} is unreleased ({UNRELEASED} targets it)"
        return f"{version} is released ({self.releases[0][1].removeprefix(' - ')})"
