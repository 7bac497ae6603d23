"""Finding installed plugins: entry points, environment filters, version checks.

Nothing here imports a plugin: a plugin blocked by ``LLMGINE_DISABLE_PLUGINS`` or
an incompatible version is turned away before its code runs.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from typing import TYPE_CHECKING

from .._version import DISTRIBUTION, LEGACY_DISTRIBUTION, __version__
from .errors import IncompatiblePluginError, PluginLoadError

if TYPE_CHECKING:
    from importlib.metadata import Distribution, EntryPoint

__all__ = [
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "LENIENT_ENV",
    "LOAD_ENV",
    "TRACE_ENV",
    "Candidate",
    "UnknownName",
    "UnknownPluginNameWarning",
    "check_compatible",
    "discover",
    "excluded",
    "normalize",
    "scan",
    "unknown_names",
]

#: The entry-point group plugins register under.
ENTRY_POINT_GROUP = "llmgine.plugins"
#: Comma-separated plugin (entry point or distribution) names never to load.
DISABLE_ENV = "LLMGINE_DISABLE_PLUGINS"
#: Set to 1/true/yes to warn about broken plugins and go on instead of raising.
LENIENT_ENV = "LLMGINE_PLUGINS_LENIENT"
#: Set to 1/true/yes to print the tree of commands and events on stderr (see llmgine.tracing).
TRACE_ENV = "LLMGINE_TRACE"
#: If set, only these plugins are loaded (empty: none). DISABLE wins over LOAD.
LOAD_ENV = "LLMGINE_LOAD_PLUGINS"


def normalize(name: str) -> str:
    """PEP 503 name normalization: ``My_Plugin.x`` -> ``my-plugin-x``."""
    return re.sub(r"[-_.]+", "-", name).lower()


class Candidate:
    """An installed plugin's entry point, not yet imported."""

    # A plain class, not attrs: building an attrs class at import costs more than
    # everything discovery does with it.
    __slots__ = ("distribution", "entry_point")

    def __init__(self, entry_point: EntryPoint, distribution: Distribution | None) -> None:
        self.entry_point = entry_point
        self.distribution = distribution

    @property
    def name(self) -> str:
        """The entry-point name, which is the plugin's name."""
        return self.entry_point.name

    @property
    def dist_name(self) -> str | None:
        """The distribution's project name."""
        return self.distribution.metadata["Name"] if self.distribution is not None else None

    @property
    def dist_version(self) -> str | None:
        """The distribution's version."""
        return self.distribution.version if self.distribution is not None else None

    def describe(self) -> str:
        """``'name' (module:attr) from dist version``, for error messages."""
        where = f"{self.dist_name} {self.dist_version}" if self.distribution else "unknown dist"
        return f"plugin {self.name!r} ({self.entry_point.value}) from {where}"

    def error(self, problem: str, cause: BaseException | None = None) -> PluginLoadError:
        """A :class:`PluginLoadError` ``<describe()> <problem>`` naming this plugin."""
        error = PluginLoadError(
            f"{self.describe()} {problem}", plugin=self.name, distribution=self.dist_name
        )
        error.__cause__ = cause
        return error

    def names(self) -> set[str]:
        """Names the environment filters match: entry point and distribution, normalized."""
        found = {normalize(self.name)}
        if self.dist_name:
            found.add(normalize(self.dist_name))
        return found


def _written_names(var: str) -> list[str] | None:
    """The names in ``var`` as written (stripped, without repeats), or None if it is unset."""
    value = os.environ.get(var)
    if value is None:
        return None
    return list(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))


def _env_names(var: str) -> set[str] | None:
    names = _written_names(var)
    return None if names is None else {normalize(n) for n in names}


def scan(*, warn_unknown: bool = False) -> list[tuple[Candidate, str | None]]:
    """Every installed plugin, in load order, with the variable that excludes it (or None).

    Load order is by normalized distribution name, then entry-point name. A
    distribution visible more than once on ``sys.path`` counts once (the first).
    With ``warn_unknown``, each name in ``LLMGINE_LOAD_PLUGINS`` or
    ``LLMGINE_DISABLE_PLUGINS`` that matches no installed plugin is warned about
    (:class:`UnknownPluginNameWarning`, see :func:`unknown_names`).
    """
    disabled = _env_names(DISABLE_ENV) or set()
    only = _env_names(LOAD_ENV)
    seen: set[tuple[str, str]] = set()
    found: list[tuple[Candidate, str | None]] = []
    from importlib.metadata import entry_points  # its imports cost more than all of llmgine

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        candidate = Candidate(ep, ep.dist)
        key = (normalize(candidate.dist_name or ""), candidate.name)
        if key in seen:
            continue
        seen.add(key)
        names = candidate.names()
        excluded_by = None
        if names & disabled:  # DISABLE wins over LOAD
            excluded_by = DISABLE_ENV
        elif only is not None and not names & only:
            excluded_by = LOAD_ENV
        found.append((candidate, excluded_by))
    found.sort(key=lambda pair: (normalize(pair[0].dist_name or ""), pair[0].name))
    if warn_unknown:
        for unknown in unknown_names(found):
            warnings.warn(unknown.message, UnknownPluginNameWarning, stacklevel=_caller_level())
    return found


def discover() -> list[Candidate]:
    """Return the installed plugins allowed by the environment, in load order."""
    return [candidate for candidate, excluded_by in scan() if excluded_by is None]


def excluded() -> list[tuple[Candidate, str]]:
    """Return the installed plugins the environment excludes, in load order, each with
    the variable that excludes it (``DISABLE_ENV`` or ``LOAD_ENV``).

    Read from entry-point metadata only, for ``llmgine plugins`` to list them: a
    plugin is disabled precisely so that its code does not run.
    """
    return [(candidate, by) for candidate, by in scan() if by is not None]


class UnknownPluginNameWarning(UserWarning):
    """A name in ``LLMGINE_LOAD_PLUGINS`` or ``LLMGINE_DISABLE_PLUGINS`` that matches no
    installed plugin (warned once per plugin host, when it loads the plugins)."""


#: What a plugin name may look like (a PEP 508 project name, which entry-point names
#: in practice are too); anything else in the variables is not meant as one.
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
#: At most this many installed names are listed when no close match exists.
_LISTED = 10


class UnknownName:
    """A name in one of the plugin-selecting variables that no installed plugin has."""

    __slots__ = ("installed", "name", "suggestion", "variable")

    def __init__(
        self, variable: str, name: str, suggestion: str | None, installed: list[str]
    ) -> None:
        #: ``LLMGINE_LOAD_PLUGINS`` or ``LLMGINE_DISABLE_PLUGINS``
        self.variable = variable
        #: the name as written in the variable
        self.name = name
        #: the closest installed plugin (entry-point or distribution) name, if any is close
        self.suggestion = suggestion
        #: the installed plugins' entry-point names
        self.installed = installed

    def __repr__(self) -> str:
        return f"<UnknownName {self.variable}={self.name!r}>"

    @property
    def message(self) -> str:
        """What is wrong and the likely fix, in one line."""
        start = f"{self.variable} names {self.name!r}, which is not"
        if not _NAME.match(self.name):
            return (
                f"{start} a plugin name; the variable takes comma-separated plugin names "
                "(entry-point or distribution names, see llmgine plugins)"
            )
        if self.suggestion is not None:
            return f"{start} an installed plugin; did you mean {self.suggestion!r}?"
        if not self.installed:
            return f"{start} an installed plugin (no plugins are installed)"
        shown = ", ".join(self.installed[:_LISTED])
        more = ", ..." if len(self.installed) > _LISTED else ""
        return f"{start} an installed plugin (installed: {shown}{more})"


def unknown_names(found: list[tuple[Candidate, str | None]] | None = None) -> list[UnknownName]:
    """The names in ``LLMGINE_LOAD_PLUGINS`` and ``LLMGINE_DISABLE_PLUGINS`` (in that order)
    that match no installed plugin's entry-point or distribution name (compared after
    :func:`normalize`), each with the closest installed name (``difflib``), if one is close.

    ``found`` is :func:`scan`'s result (scanned here if not given).
    """
    written = [(var, _written_names(var) or []) for var in (LOAD_ENV, DISABLE_ENV)]
    if not any(names for _, names in written):  # the usual case: nothing to compare
        return []
    if found is None:
        found = scan()
    spelled: dict[str, str] = {}  # normalized -> as installed (entry point first)
    for candidate, _ in found:
        spelled.setdefault(normalize(candidate.name), candidate.name)
    for candidate, _ in found:
        if candidate.dist_name:
            spelled.setdefault(normalize(candidate.dist_name), candidate.dist_name)
    installed = sorted(dict.fromkeys(candidate.name for candidate, _ in found))
    unknown = []
    for var, names in written:
        for name in names:
            key = normalize(name)
            if key in spelled:
                continue
            import difflib  # (only for a name that is wrong)

            close = difflib.get_close_matches(key, list(spelled), n=1) if _NAME.match(name) else []
            unknown.append(UnknownName(var, name, spelled[close[0]] if close else None, installed))
    return unknown


def _caller_level() -> int:
    """The ``stacklevel`` of the first caller outside llmgine, as seen by the function
    calling this one: the warning points at the application's own call (of
    ``register_handlers()``, ``load_plugins()``, ...), however deep inside llmgine it is."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and f"{frame.f_globals.get('__name__')}.".startswith("llmgine."):
        frame = frame.f_back
        level += 1
    return level


def check_compatible(candidate: Candidate, core_version: str = __version__) -> None:
    """Raise :class:`IncompatiblePluginError` if the plugin's requirement on the core
    (``llmgine-messages``, or the old name ``llmgine``) excludes the running core.

    A requirement on the old name is honoured until 1.0, with a :class:`FutureWarning`
    asking the plugin to require ``llmgine-messages``.
    """
    if candidate.distribution is None:
        return
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    for line in candidate.distribution.requires or ():
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        name = normalize(req.name)
        if name not in (DISTRIBUTION, LEGACY_DISTRIBUTION):
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            ok = req.specifier.contains(Version(core_version), prereleases=True)
        except InvalidVersion:
            ok = True
        if ok and name == LEGACY_DISTRIBUTION:
            warnings.warn(
                f"{candidate.describe()} requires {req}, the core's old distribution name; "
                f"it is loaded, but it should require {DISTRIBUTION}{req.specifier} instead "
                f"(PyPI's {LEGACY_DISTRIBUTION!r} is an unrelated project, which pip would "
                "install over this core). The old name is honoured until llmgine 1.0.",
                FutureWarning,
                stacklevel=_caller_level(),
            )
        if not ok:
            raise IncompatiblePluginError(
                f"{candidate.describe()} requires {req} but the installed core is "
                f"{DISTRIBUTION} {core_version}; upgrade one of them, or block the plugin "
                f"with {DISABLE_ENV}={candidate.name}",
                plugin=candidate.name,
                distribution=candidate.dist_name,
            )
