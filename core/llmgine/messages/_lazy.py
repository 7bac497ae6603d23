"""Names a public module exports but whose defining module is imported on first use.

The concrete core messages are attrs classes, and building them is most of what
importing the core would otherwise cost, while most processes use few or none of
them. :mod:`~llmgine.messages.events` and :mod:`~llmgine.messages.commands`
therefore define only the base classes and hand out the rest through a module
``__getattr__`` (PEP 562); type checkers see ordinary imports.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

__all__ = ["lazy_names", "published"]


def lazy_names(
    module: str,
    source: str | Mapping[str, str],
    names: Collection[str] | None = None,
    *,
    own: Sequence[str] = (),
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return the ``__getattr__`` and ``__dir__`` by which ``module`` exports ``names``
    from the module ``source`` (absolute name), importing it when one is first read.

    ``source`` may instead map each name to its module (then ``names`` are its keys).

    Without ``names``, ``source``'s ``__all__`` is the one list of them: ``module``'s
    ``__all__`` is then ``own`` (the names it defines itself) followed by it, made when
    first read, which imports ``source`` as a star import of ``module`` would anyway.
    """

    def exported() -> Collection[str]:
        if names is not None:
            return names
        if not isinstance(source, str):
            return source.keys()
        __import__(source)
        return sys.modules[source].__all__  # type: ignore[no-any-return]

    def __getattr__(name: str) -> Any:
        if name == "__all__":
            value: Any = [*own, *exported()]
        elif name.startswith("__") or name not in exported():  # (no import for a probe)
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        else:
            where = source if isinstance(source, str) else source[name]
            __import__(where)
            value = getattr(sys.modules[where], name)
        # Later reads find it like any global, without coming back here.
        setattr(sys.modules[module], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[module]), *exported()})

    return __getattr__, __dir__


def published(module: str, namespace: dict[str, Any], names: Collection[str]) -> None:
    """Give the classes among ``names`` of ``namespace`` the public ``module`` they are
    read from, so pickle, reprs and the names in error messages and records point there."""
    for name in names:
        if isinstance(namespace[name], type):
            namespace[name].__module__ = module
