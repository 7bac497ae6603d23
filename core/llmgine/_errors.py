"""What llmgine's exceptions share: pickling that does not call ``__init__`` again.

Python pickles an exception as ``cls(*error.args)``. Ours take other parameters
than their ``args`` (they build a message from a type, a plugin name, ...), so that
call failed, e.g. when a process pool sent one back to its parent. These are
pickled as their ``args`` and attributes and rebuilt without ``__init__``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["reduce_error"]


def reduce_error(error: BaseException) -> tuple[Any, ...]:
    """``error.__reduce__()``: its class, ``args`` and attributes, rebuilt by :func:`_rebuild`."""
    return (_rebuild, (error.__class__, error.args), error.__dict__ or None)


def _rebuild(cls: type[BaseException], args: tuple[Any, ...]) -> BaseException:
    """An instance of ``cls`` with ``args``, made as ``raise`` would, minus ``__init__``."""
    if issubclass(cls, BaseExceptionGroup):  # its message and exceptions are in args
        return BaseExceptionGroup.__new__(cls, *args)
    return BaseException.__new__(cls, *args)
