"""One warning when ``LLMGINE_TRACE`` is set but the process traced nothing.

The tracer is installed by ``register_handlers()`` (or ``install_tracing(bus)``); a
program that builds its bus and never calls either printed nothing, silently. Armed
when :mod:`llmgine.plugins` is imported with the variable set; checked at exit.
The warning goes to the ``llmgine.tracing`` logger: with logging not configured,
Python prints a warning record's message alone on stderr.
"""

from __future__ import annotations

import atexit
import logging
import threading

__all__ = ["MESSAGE", "arm", "check", "disarm", "traced"]

#: What is printed at exit when nothing was traced.
MESSAGE = (
    "llmgine: LLMGINE_TRACE is set but nothing was traced: no bus in this process got a "
    "tracer. Call llmgine.plugins.register_handlers(bus) after making the bus (it "
    "installs the tracer when LLMGINE_TRACE is set), or llmgine.tracing.install_tracing(bus)."
)


class _Watch:
    """Whether the check is armed, and whether a tracer was installed (process-wide)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.armed = False
        self.registered = False
        self.traced = False


_watch = _Watch()


def arm() -> None:
    """Check at exit that a tracer was installed, if ``LLMGINE_TRACE`` is true (idempotent)."""
    from .plugins._discovery import TRACE_ENV
    from .plugins.state import env_flag

    if not env_flag(TRACE_ENV):
        return
    with _watch.lock:
        _watch.armed = True
        if not _watch.registered:
            # (logging is imported above: its own exit handler, registered first, runs
            # after this one, so the record is still printed)
            atexit.register(check)
            _watch.registered = True


def disarm() -> None:
    """Skip the check (for a process not meant to be traced, such as the ``llmgine`` CLI)."""
    _watch.armed = False


def traced() -> None:
    """Note that a tracer was installed (:func:`llmgine.tracing.install_tracing` calls it)."""
    _watch.traced = True


def check() -> bool:
    """Log :data:`MESSAGE` once if armed and nothing was traced; return whether it did."""
    with _watch.lock:
        if not _watch.armed or _watch.traced:
            return False
        _watch.armed = False  # once
    logging.getLogger("llmgine.tracing").warning(MESSAGE)
    return True
