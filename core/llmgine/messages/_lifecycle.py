"""Shutting a bus down: the close callbacks through which plugins flush what they hold."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from types import CoroutineType
from typing import Any

from ._naming import callable_name, is_async_callable
from .errors import AsyncHandlerError

__all__ = ["Closing"]


class Closing:
    """The part of :class:`~llmgine.messages.bus.MessageBus` that runs close callbacks."""

    _lock: threading.Lock
    _close_callbacks: list[Callable[[], Any]]

    def on_close(self, callback: Callable[[], Any]) -> Callable[[], None]:
        """Run ``callback`` (plain or ``async def``) at close; the last one added runs first.

        Returns a function that takes the callback back unrun, if it is still pending.
        """
        with self._lock:  # close() swaps the list out under the lock
            self._close_callbacks.append(callback)

        def cancel() -> None:
            """Take the close callback back unrun (no-op once it has run or was taken)."""
            self._drop_close_callback(callback)

        return cancel

    def close(self) -> None:
        """Run the close callbacks so plugins can flush what they hold.

        Each callback runs once; all run even if some raise, and the errors are then
        raised together as an ``ExceptionGroup``. The bus stays usable afterwards.
        If any callback is ``async def``, nothing runs and :class:`AsyncHandlerError`
        says to use :meth:`aclose`, which then runs them all.
        """
        with self._lock:
            pending = [c for c in self._close_callbacks if is_async_callable(c)]
        if pending:
            names = ", ".join(callable_name(c) for c in pending)
            raise AsyncHandlerError(
                f"close callbacks {names} are async; use 'await bus.aclose()' (no callback has run)"
            )
        errors: list[Exception] = []
        for callback in self._take_close_callbacks():
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

    async def aclose(self) -> None:
        """Like :meth:`close`, awaiting ``async def`` callbacks."""
        errors: list[Exception] = []
        for callback in self._take_close_callbacks():
            try:
                result = callback()
                if isinstance(result, Awaitable):
                    await result
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise ExceptionGroup("close callbacks failed", errors)

    def _drop_close_callback(self, callback: Callable[[], Any]) -> None:
        """Take ``callback`` back unrun, if it is still pending (for the plugin loader)."""
        with self._lock:  # by identity: a callback's own __eq__ must not match ours
            callbacks = self._close_callbacks
            for i in range(len(callbacks) - 1, -1, -1):
                if callbacks[i] is callback:
                    del callbacks[i]
                    return

    def _take_close_callbacks(self) -> list[Callable[[], Any]]:
        with self._lock:
            callbacks, self._close_callbacks = self._close_callbacks, []
        return callbacks[::-1]
