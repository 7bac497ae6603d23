"""Errors raised while discovering, loading and registering plugins."""

from __future__ import annotations

from typing import Any

from .._errors import reduce_error
from ..messages.errors import MessageBusException

__all__ = ["IncompatiblePluginError", "PluginLoadError", "WireNameClash", "is_plugin_failure"]


class PluginLoadError(Exception):
    """A plugin could not be loaded; the message names the entry point and distribution.

    The original exception, if any, is chained as ``__cause__``. ``plugin`` is the
    entry-point name and ``distribution`` the distribution that provides it.
    """

    def __init__(self, message: str, *, plugin: str, distribution: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin
        self.distribution = distribution

    def __reduce__(self) -> tuple[Any, ...]:
        # (``plugin`` is keyword-only, so cls(*args) cannot rebuild it: see llmgine/_errors.py)
        return reduce_error(self)


class IncompatiblePluginError(PluginLoadError):
    """A plugin declares a requirement on ``llmgine`` that the running core does not meet."""


class WireNameClash(MessageBusException, ValueError):
    """A wire name is claimed by two classes, or a class by two names; names both owners."""


def is_plugin_failure(exc: BaseException) -> bool:
    """Whether ``exc``, raised by a plugin (at import or in a hook), is that plugin's failure.

    Everything is, except ``KeyboardInterrupt`` (the user's Ctrl-C): ``sys.exit()`` in a
    hook, ``GeneratorExit`` or a custom ``BaseException`` subclass must not end the
    application unannounced, nor crash ``llmgine plugins``.
    """
    return not isinstance(exc, KeyboardInterrupt)
