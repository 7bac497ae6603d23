"""Readable names for callables and types, used in every error message."""

from __future__ import annotations

import functools
import inspect
from typing import Any

__all__ = ["callable_name", "is_async_callable", "type_name"]


def type_name(tp: type) -> str:
    """Return ``module.QualName`` for a class (just the name for builtins)."""
    if tp.__module__ == "builtins":
        return tp.__qualname__
    return f"{tp.__module__}.{tp.__qualname__}"


def callable_name(fn: Any) -> str:
    """Return a name that lets a user find ``fn`` in their code."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    qualname = getattr(fn, "__qualname__", None)
    if qualname is None:  # a callable instance
        return f"{type_name(type(fn))} instance"
    module = getattr(fn, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)


def is_async_callable(fn: Any) -> bool:
    """Whether calling ``fn`` returns a coroutine (``async def``, partials, async ``__call__``)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    # a callable instance whose class has ``async def __call__``
    return (
        callable(fn)
        and not inspect.isroutine(fn)
        and inspect.iscoroutinefunction(type(fn).__call__)
    )
