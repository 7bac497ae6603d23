"""``llmgine new-plugin NAME``: write a ready-to-install plugin distribution.

The files are rendered from ``template/`` (package data) with ``string.Template``;
``$$`` is a literal dollar sign in them. Names come from NAME: ``greeter`` ->
distribution ``llmgine-greeter``, package ``llmgine_greeter``, entry point
``greeter``, class prefix ``Greeter``, environment prefix ``LLMGINE_GREETER_``.
The generated plugin follows the conventions of the plugin author's guide in
docs/plugin-guide/ (entry module ``plugin``, public ``errors``,
``install(bus, **settings)`` with per-bus state, ``register_messages``).
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from packaging.utils import canonicalize_name

from .._version import DISTRIBUTION, __version__

__all__ = ["ScaffoldError", "core_requirement", "plugin_names", "render_plugin"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_SUFFIX = ".tmpl"


class ScaffoldError(ValueError):
    """NAME is not usable, the target directory is not empty, or it cannot be written."""


def plugin_names(name: str) -> dict[str, str]:
    """Return the template variables for plugin ``name`` (``llmgine-`` prefix optional).

    Raises :class:`ScaffoldError` for a malformed name, and for one whose distribution
    would be the core's own (``messages``: ``llmgine-messages``). The package,
    ``llmgine_<name>``, cannot be the core's import package, ``llmgine``.
    """
    short = name.lower().removeprefix("llmgine-").removeprefix("llmgine_")
    if not _NAME.match(short):
        raise ScaffoldError(
            f"plugin name {name!r} must be lowercase letters and digits, words separated by "
            "'-' or '_', starting with a letter (e.g. 'greeter' or 'slack-notify')"
        )
    words = re.split(r"[-_]", short)
    dist = "llmgine-" + "-".join(words)
    if canonicalize_name(dist) == canonicalize_name(DISTRIBUTION):
        raise ScaffoldError(
            f"plugin name {name!r} would make the distribution {dist}, which is the core's "
            "own distribution name: pip could not install the plugin with the core it needs; "
            "choose another name"
        )
    return {
        "name": "-".join(words),
        "dist": dist,
        "package": "llmgine_" + "_".join(words),
        "Class": "".join(w.capitalize() for w in words),
        "title": " ".join(words).capitalize(),
        "UPPER": "_".join(words).upper(),
    }


def core_requirement(version: str = __version__) -> str:
    """The generated plugin's requirement on the core: this minor version's series
    (``llmgine-messages>=0.2,<0.3`` for 0.2.x), as the hook compatibility policy promises."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return f"{DISTRIBUTION}>={major}.{minor},<{major}.{minor + 1}"


def _files(root: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        path = f"{prefix}{entry.name}"
        if entry.is_dir():
            found += _files(entry, path + "/")
        else:
            found.append((path, entry))
    return found


def render_plugin(name: str, directory: Path | None = None) -> list[Path]:
    """Write the plugin distribution for ``name`` into ``directory``; return the files written.

    ``directory`` defaults to ``./llmgine-<name>``; it may exist but must be empty.
    Raises :class:`ScaffoldError` naming the problem when ``name`` is not usable, the
    directory is not empty, or writing fails (an ``OSError``, chained: a part of the
    path is a file, permission denied, ...).
    """
    names = {**plugin_names(name), "requires": core_requirement()}
    target = Path(directory) if directory is not None else Path(names["dist"])
    written: list[Path] = []
    try:
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ScaffoldError(
                f"{target} already exists and is not an empty directory; choose another with --dir"
            )
        _write(target, names, written)
    except OSError as exc:
        left = f"; the files written before the failure are left in {target}" if written else ""
        raise ScaffoldError(f"cannot write the plugin to {target}: {_reason(exc)}{left}") from exc
    return written


def _reason(error: OSError) -> str:
    # "Not a directory: 'a/b'" rather than "[Errno 20] Not a directory: 'a/b'".
    if error.strerror is None:
        return str(error)
    return f"{error.strerror}: {str(error.filename)!r}" if error.filename else error.strerror


def _write(target: Path, names: dict[str, str], written: list[Path]) -> None:
    for relative, source in _files(resources.files(__name__) / "template"):
        relative = relative.replace("package/", names["package"] + "/", 1)
        relative = Template(relative.removesuffix(_SUFFIX)).substitute(names)
        text = source.read_text(encoding="utf-8")
        if source.name.endswith(_SUFFIX):
            text = Template(text).substitute(names)
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
