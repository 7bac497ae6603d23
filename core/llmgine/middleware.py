"""Middleware: code that wraps every command handler or subscriber call, ``call_next`` style.

Hosts add it to a bus; plugins hand it over from their ``register_middleware`` hook::

    def log_calls(message, call_next):
        print("->", message)
        return call_next(message)

    bus.add_command_middleware(log_calls)          # wraps dispatch()
    bus.add_event_middleware(Timing())             # wraps each subscriber call, sync and async

Rules:

* **Order.** The first middleware added is the outermost. Plugins' middleware is
  added by ``register_handlers()``, in plugin load order, after each plugin's
  commands and subscribers; so middleware a host adds before ``register_handlers()``
  wraps the plugins', and middleware added after it runs inside theirs.
* **Paths.** A plain function wraps ``dispatch``/``emit``; an ``async def`` one wraps
  ``dispatch_async``/``emit_async``; an object with a plain ``__call__`` and an
  ``async def acall`` wraps both (subclass :class:`Around` to write one once).
* **Where.** A command middleware runs inside the command's scope, around the
  handler only: the handler's events are published after the whole chain
  returned. An event middleware wraps one subscriber call; ``call_next.handler_name``
  names the handler or subscriber at the end of the chain.
* **Cost.** Chains are built once per command class (when its handler is first
  resolved) and once per event type (when its subscriber plan is built); a
  middleware's optional ``applies(message_class) -> bool`` is asked then, so a
  middleware that does not apply to a class costs that class nothing (and
  ``async_handlers_only = True`` leaves it out for plain handlers). A plain handler
  or subscriber on an async path whose middleware are all :class:`Around` (or say
  ``plain_on_async = True``) gets the plain chain, so it runs without a coroutine.
  With no
  middleware, dispatch and delivery run exactly the code they run without this
  feature.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import attrs

from .messages._middleware import AsyncMiddleware, Middleware, Next
from .messages._naming import type_name
from .messages._scope import get_scope
from .messages.errors import (
    AsyncHandlerError,
    CommandHandlerNotFound,
    DuplicateHandlerError,
    EventCascadeError,
    InvalidPatternError,
    NoActiveScopeError,
)

__all__ = [
    "Around",
    "AsyncMiddleware",
    "HandlerTimeoutError",
    "Logging",
    "Middleware",
    "Next",
    "Retry",
    "Timeout",
    "Timing",
    "TimingStats",
]


class Around:
    """Base for middleware that does something before and after each call, on both paths.

    Override :meth:`before`, whose return value (everything :meth:`after` needs to
    know) is handed to :meth:`after`; ``__call__`` and ``acall`` are written once here.
    """

    #: around a plain handler, ``__call__`` does what ``acall`` does, without a coroutine
    plain_on_async: ClassVar[bool] = True

    def before(self, message: Any, call_next: Next[Any]) -> Any:
        """Called before the rest of the chain; returns the state for :meth:`after`."""
        return None

    def after(self, state: Any, error: BaseException | None, result: Any) -> None:
        """Called after the rest of the chain with its exception, or ``None`` and its result."""

    def __call__(self, message: Any, call_next: Next[Any]) -> Any:
        state = self.before(message, call_next)
        try:
            result = call_next(message)
        except BaseException as exc:
            self.after(state, exc, None)
            raise
        self.after(state, None, result)
        return result

    async def acall(self, message: Any, call_next: Next[Any]) -> Any:
        """The async-path version of ``__call__``."""
        state = self.before(message, call_next)
        try:
            result = await call_next(message)
        except BaseException as exc:
            self.after(state, exc, None)
            raise
        self.after(state, None, result)
        return result


def _describe(message: Any) -> str:
    kind = "event" if hasattr(message, "event_id") else "command"
    message_id = getattr(message, "event_id", None) or getattr(message, "command_id", "?")
    return f"{kind} {type_name(message.__class__)} {message_id}"


class Logging(Around):
    """Logs each call (at ``level``) and each failure (at ``error_level``, with the traceback)."""

    def __init__(
        self,
        logger: logging.Logger | None = None,
        level: int = logging.DEBUG,
        error_level: int = logging.WARNING,
    ) -> None:
        self.logger = logger if logger is not None else logging.getLogger("llmgine.middleware")
        self.level = level
        self.error_level = error_level

    def before(self, message: Any, call_next: Next[Any]) -> tuple[str, str, float]:
        """Log the start of the call."""
        described, handler = _describe(message), call_next.handler_name
        self.logger.log(self.level, "%s -> %s", described, handler)
        return described, handler, time.perf_counter()

    def after(self, state: Any, error: BaseException | None, result: Any) -> None:
        """Log the end of the call, or its exception."""
        described, handler, start = state
        ms = (time.perf_counter() - start) * 1000
        if error is None:
            self.logger.log(self.level, "%s done by %s in %.2f ms", described, handler, ms)
        else:
            self.logger.log(
                self.error_level,
                "%s failed in %s after %.2f ms: %r",
                described,
                handler,
                ms,
                error,
                exc_info=error,
            )


@attrs.define
class TimingStats:
    """Accumulated timings of one (message type, handler)."""

    calls: int = 0
    failures: int = 0
    total_seconds: float = 0.0
    max_seconds: float = 0.0

    @property
    def mean_seconds(self) -> float:
        """Average duration of a call (0 before the first)."""
        return self.total_seconds / self.calls if self.calls else 0.0


class Timing(Around):
    """Measures every call: ``stats[(message type name, handler name)]`` accumulates.

    ``report(message, handler_name, seconds, error)``, if given, is called after each
    call too (e.g. to feed a metrics library).
    """

    def __init__(
        self, report: Callable[[Any, str, float, BaseException | None], None] | None = None
    ) -> None:
        self.report = report
        self.stats: dict[tuple[str, str], TimingStats] = {}

    def before(self, message: Any, call_next: Next[Any]) -> tuple[Any, str, float]:
        """Start the clock."""
        return message, call_next.handler_name, time.perf_counter()

    def after(self, state: Any, error: BaseException | None, result: Any) -> None:
        """Stop the clock and record."""
        message, handler, start = state
        seconds = time.perf_counter() - start
        key = (getattr(message, "event_type", None) or type_name(message.__class__), handler)
        stats = self.stats.get(key)
        if stats is None:
            stats = self.stats[key] = TimingStats()
        stats.calls += 1
        stats.failures += error is not None
        stats.total_seconds += seconds
        stats.max_seconds = max(stats.max_seconds, seconds)
        if self.report is not None:
            self.report(message, handler, seconds, error)


class Retry:
    """Retries commands marked retryable, with exponential backoff.

    A command class is marked with the class attribute ``retryable = True``
    (inherited by subclasses). Others are not wrapped at all. A failed attempt's
    queued events are dropped before the next one, so only the successful attempt's
    events are published (events queued before the attempt, e.g. by outer middleware,
    stay queued). After ``attempts`` failures the last exception is raised.
    Only exceptions in ``retry_on`` are retried, and never those in :attr:`NEVER`:
    llmgine's own errors that say the program is wrong (a missing handler, an
    ``async def`` handler under plain ``dispatch``, a runaway cascade), which every
    attempt would meet again.

    The delay before retry ``n`` (1-based) is ``min(backoff * factor ** (n - 1), max_delay)``.
    """

    #: the class attribute that marks a command as retryable
    MARKER: ClassVar[str] = "retryable"
    #: raised at once, whatever ``retry_on`` says: retrying cannot help
    NEVER: ClassVar[tuple[type[BaseException], ...]] = (
        AsyncHandlerError,
        CommandHandlerNotFound,
        DuplicateHandlerError,
        EventCascadeError,
        InvalidPatternError,
        NoActiveScopeError,
    )

    def __init__(
        self,
        attempts: int = 3,
        backoff: float = 0.05,
        factor: float = 2.0,
        max_delay: float = 5.0,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"Retry(attempts=...) must be at least 1, got {attempts}")
        if backoff < 0 or factor < 1 or max_delay < 0:
            raise ValueError(
                "Retry needs backoff >= 0, factor >= 1 and max_delay >= 0, got "
                f"backoff={backoff}, factor={factor}, max_delay={max_delay}"
            )
        self.attempts = attempts
        self.backoff = backoff
        self.factor = factor
        self.max_delay = max_delay
        self.retry_on = retry_on
        self.sleep = sleep
        self.async_sleep = async_sleep

    def applies(self, message_class: type) -> bool:
        """Only classes with ``retryable = True`` are wrapped."""
        return getattr(message_class, self.MARKER, False) is True

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return float(min(self.backoff * self.factor ** (retry - 1), self.max_delay))

    def _failed(self, attempt: int, error: BaseException, mark: int) -> float:
        """Drop the attempt's events and return the delay, or re-raise if out of attempts
        (``attempt`` 0: no retry whatever the count).

        Only the events queued after ``mark`` (the count before the attempt) are the
        attempt's: those before it belong to outer middleware and stay queued.
        """
        scope = get_scope()
        if scope is not None:
            scope.discard_since(mark)
        if (
            not 0 < attempt < self.attempts
            or not isinstance(error, self.retry_on)
            or isinstance(error, self.NEVER)
        ):
            raise error
        return self.delay(attempt)

    def __call__(self, message: Any, call_next: Next[Any]) -> Any:
        attempt = 1
        while True:
            mark = _queued()
            try:
                return call_next(message)
            except Exception as exc:
                self.sleep(self._failed(attempt, exc, mark))
            attempt += 1

    async def acall(self, message: Any, call_next: Next[Any]) -> Any:
        """The async-path version of ``__call__``; never retries once the task is cancelled."""
        task = asyncio.current_task()
        cancelling = task.cancelling() if task is not None else 0
        attempt = 1
        while True:
            mark = _queued()
            try:
                return await call_next(message)
            except Exception as exc:
                if task is not None and task.cancelling() > cancelling:
                    # Cancelled during the attempt (e.g. by an outer Timeout), and the
                    # handler reported it as an error of its own: a retry would run
                    # after the cancellation was delivered, with nothing left to stop it.
                    attempt = 0
                await self.async_sleep(self._failed(attempt, exc, mark))
            attempt += 1


def _queued() -> int:
    """How many events the current scope has queued so far."""
    scope = get_scope()
    return scope.mark() if scope is not None else 0


class HandlerTimeoutError(TimeoutError):
    """An async handler or subscriber ran longer than a :class:`Timeout` allows."""


class Timeout:
    """Cancels an async handler or subscriber that runs longer than ``seconds``.

    Async handlers and subscribers only, on the async paths: a plain function cannot
    be interrupted, so plain handlers are not wrapped at all. A command class may
    set its own limit with the class attribute ``timeout_seconds``.
    """

    #: plain handlers cannot be interrupted: their chains leave Timeout out
    async_handlers_only: ClassVar[bool] = True

    def __init__(self, seconds: float) -> None:
        self.seconds = _seconds(seconds, "Timeout(seconds)")

    def applies(self, message_class: type) -> bool:
        """Check a class's own ``timeout_seconds`` (``None``: no limit), once per class."""
        own = getattr(message_class, "timeout_seconds", self.seconds)
        if own is None:
            return False
        _seconds(own, f"{type_name(message_class)}.timeout_seconds")
        return True

    async def acall(self, message: Any, call_next: Next[Any]) -> Any:
        """Run the rest of the chain, cancelling it after the time limit."""
        seconds = getattr(message.__class__, "timeout_seconds", self.seconds)
        limit = asyncio.timeout(seconds)
        try:
            async with limit:
                return await call_next(message)
        except TimeoutError as exc:
            if not limit.expired():  # the handler's own TimeoutError
                raise
            raise HandlerTimeoutError(
                f"{call_next.handler_name} took longer than {seconds} s on {_describe(message)}; "
                "make it faster, or raise the limit (Timeout(seconds=...), or the class "
                "attribute timeout_seconds)"
            ) from exc


def _seconds(value: Any, what: str) -> float:
    """``value`` if it is a positive number of seconds, else a ``TypeError``/``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number of seconds, got {value!r}")
    if not value > 0:  # (NaN too)
        raise ValueError(f"{what} must be positive, got {value!r}")
    return value
