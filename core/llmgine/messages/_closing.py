"""Shutting a bus down: the close callbacks through which plugins flush what they hold."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from types import CoroutineType
from typing import Any

from ._naming import callable_name, is_async_callable
from .errors import AsyncHandlerError

__all__ = ["CloseCallbacks"]


class CloseCallbacks:
    """The close callbacks of one bus, last added first; each runs at most once."""

    __slots__ = ("_callbacks", "_lock")

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock  # the bus's
        self._callbacks: list[Callable[[], Any]] = []

    def add(self, callback: Callable[[], Any]) -> Callable[[], None]:
        """Add ``callback``; return a function that takes it back unrun."""
        with self._lock:
            self._callbacks.append(callback)

        def cancel() -> None:
            """Take the close callback back unrun (no-op once it has run or was taken)."""
            self.drop(callback)

        return cancel

    def drop(self, callback: Callable[[], Any]) -> None:
        """Take the last addition of ``callback`` back unrun, if it is still pending."""
        with self._lock:  # by identity: a callback's own __eq__ must not match ours
            callbacks = self._callbacks
            for i in range(len(callbacks) - 1, -1, -1):
                if callbacks[i] is callback:
                    del callbacks[i]
                    return

    def pending(self) -> list[Callable[[], Any]]:
        """The callbacks not run yet, in the order they were added."""
        with self._lock:
            return list(self._callbacks)

    def replace(self, callbacks: list[Callable[[], Any]]) -> None:
        """Put ``callbacks`` in place of the pending ones (a snapshot's restore, a reset)."""
        with self._lock:
            self._callbacks = list(callbacks)

    def _take(self) -> list[Callable[[], Any]]:
        with self._lock:
            callbacks, self._callbacks = self._callbacks, []
        return callbacks[::-1]

    def run(self) -> None:
        """Run every callback (see ``MessageBus.close``)."""
        asynchronous = [c for c in self.pending() if is_async_callable(c)]
        if asynchronous:
            names = ", ".join(callable_name(c) for c in asynchronous)
            raise AsyncHandlerError(
                f"close callbacks {names} are async; use 'await bus.aclose()' (no callback has run)"
            )
        errors: list[Exception] = []
        for callback in self._take():
            try:
                result = callback()
                if result.__class__ is CoroutineType:
                    result.close()
                    raise AsyncHandlerError(
                        f"close callback {callable_name(callback)} returned a coroutine, which "
                        "was closed unawaited; use 'await bus.aclose()'"
                    )
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise ExceptionGroup("close callbacks failed", errors)

    async def arun(self) -> None:
        """Run every callback, awaiting ``async def`` ones (see ``MessageBus.aclose``)."""
        errors: list[Exception] = []
        for callback in self._take():
            try:
                result = callback()
                if isinstance(result, Awaitable):
                    await result
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise ExceptionGroup("close callbacks failed", errors)
