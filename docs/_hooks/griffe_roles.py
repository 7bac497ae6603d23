"""A Griffe extension: the Sphinx roles of our docstrings become cross-references.

(And a reStructuredText ``::`` before a literal block becomes one colon.)

Our docstrings name other objects the Sphinx way (``:class:`~llmgine.plugins.PluginInfo```,
``:func:`install```, ``:mod:`llmgine.plugins.hookspecs```). mkdocstrings renders docstrings
as Markdown, where a role would show as ``:class:`` before the code. This extension resolves
each role's target as Python would see the name from the docstring's object (its members,
then each enclosing scope, then as a full path), and writes an autorefs link in its place:
a link when the target has a place on the site, plain code when it has none (a private
module, say). A target in our packages that resolves to nothing is a broken reference: it
is logged as a warning, so ``mkdocs build --strict`` fails and names it. Targets outside our
packages (the standard library, redis, pluggy) are written as code.
"""

from __future__ import annotations

import builtins
import html
import importlib
import logging
import re
from collections.abc import Iterator
from typing import Any

import griffe

# Under "mkdocs.", so that --strict counts its warnings.
LOG = logging.getLogger("mkdocs.plugins.llmgine.griffe_roles")

#: the top-level packages of this repository (the core and the shipped plugins)
OURS = re.compile(r"^llmgine(_[a-z0-9_]+)?$")
ROLE = re.compile(r":(?:py:)?(class|func|meth|mod|attr|data|exc|obj):`([^`]+)`")
#: reStructuredText's literal-block marker: "prints as::" before an indented block
LITERAL = re.compile(r"(?<=\S)::(?=\n\n[ \t]+\S)")
TITLED = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.S)


class SphinxRoles(griffe.Extension):
    """Rewrites the Sphinx roles of every docstring of a package once it is loaded."""

    def __init__(self) -> None:
        self.loader: griffe.GriffeLoader | None = None

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        """Rewrite the roles in ``pkg``'s docstrings (other packages load on demand)."""
        self.loader = loader
        for obj in _walk(pkg):
            if obj.docstring is not None:
                text = ROLE.sub(lambda match, obj=obj: self._link(obj, match), obj.docstring.value)
                # In Markdown the indented block is code already; one colon remains.
                obj.docstring.value = LITERAL.sub(":", text)

    def _link(self, obj: Any, match: re.Match[str]) -> str:
        text = match.group(2)
        titled = TITLED.match(text)
        title, target = (titled["title"], titled["target"]) if titled else (None, text)
        target = target.strip().lstrip("!")
        short = target.startswith("~")
        target = target.lstrip("~")
        shown = title or (target.rsplit(".", 1)[-1] if short else target.lstrip("."))
        code = f"<code>{html.escape(shown)}</code>"
        found = self._resolve(obj, target.lstrip("."))
        if found is None:
            if _ours(target.lstrip(".")):
                LOG.warning(
                    "%s: the docstring of %s names %s, which does not exist",
                    obj.filepath,
                    obj.path,
                    match.group(0),
                )
            return code
        if not isinstance(found, griffe.Object):
            return code  # a value that exists at run time only: it has no page
        # Optional: a link if the target is on a page of the site, else plain code.
        return f'<autoref identifier="{found.path}" optional>{code}</autoref>'

    def _resolve(self, obj: Any, name: str) -> Any | None:
        for scope in _scopes(obj):
            if (found := _lookup(scope, name)) is not None:
                return found
        assert self.loader is not None
        collection = self.loader.modules_collection
        top = name.split(".")[0]
        if OURS.match(top) and top not in collection.members:
            try:
                self.loader.load(top)
            except ImportError:
                return None
        return _lookup(collection, name) or self._built_at_runtime(obj, name)

    def _built_at_runtime(self, obj: Any, name: str) -> Any | None:
        """The Griffe object of a class that a module only provides at run time.

        The core builds its concrete events and commands on first use, behind a module
        ``__getattr__`` that static analysis cannot follow: import the name the way a
        user would, then find the class where the source defines it (these classes
        name the public module as theirs, so ``__module__`` cannot tell).
        """
        value = _import(obj.module.path, name) or _import(None, name)
        if value is None:
            return None
        qualname = getattr(value, "__qualname__", None)
        if not isinstance(qualname, str):
            return value  # an instance (a constant): it exists
        assert self.loader is not None
        top = str(getattr(value, "__module__", "")).split(".")[0]
        defined = [
            module.members[qualname]
            for module in _modules(self.loader.modules_collection)
            if module.package.name == top
            and qualname in module.members
            and not module.members[qualname].is_alias
        ]
        return defined[0] if len(defined) == 1 else value


def _ours(name: str) -> bool:
    """Whether ``name`` should resolve in our packages: a dotted path into one of them,
    or a bare name that is no built-in (``ValueError`` is Python's)."""
    if "." not in name:
        return not hasattr(builtins, name)
    return bool(OURS.match(name.split(".")[0]))


def _lookup(scope: Any, path: str) -> Any | None:
    try:
        found = scope[path]
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    if found.is_alias:
        try:
            return found.final_target
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
    return found


def _scopes(obj: Any) -> list[Any]:
    """``obj`` if it holds members, then its parents up to the package, innermost first."""
    scopes = []
    current = obj if (obj.is_class or obj.is_module) else obj.parent
    while current is not None:
        scopes.append(current)
        current = current.parent
    return scopes


def _import(module: str | None, name: str) -> Any | None:
    """``module.name`` (``name`` a full dotted path when ``module`` is None), or None."""
    parts = name.split(".")
    splits = (
        [(module, parts)]
        if module
        else [(".".join(parts[:i]), parts[i:]) for i in range(len(parts) - 1, 0, -1)]
    )
    for base, attributes in splits:
        try:
            value: Any = importlib.import_module(base)
            for attribute in attributes:
                value = getattr(value, attribute)
        except (ImportError, AttributeError):
            continue
        return value
    return None


def _modules(obj: Any) -> Iterator[Any]:
    for member in obj.members.values():
        if not member.is_alias and member.is_module:
            yield member
            yield from _modules(member)


def _walk(obj: Any) -> Iterator[Any]:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)
