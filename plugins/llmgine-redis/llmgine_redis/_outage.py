"""Riding out Redis failures in a reader: which errors to wait out, backoff, and its log lines.

An outage is any run of failed attempts, whatever failed (a lost connection, a
Redis out of memory, a replica turned read-only, a restart that is still loading):
one warning when it starts, one line when an attempt succeeds again, exponential
backoff in between. Configuration errors (wrong password, an ACL that denies a
command) are not waited out: no retry fixes them, so they are raised. Nor is a
Redis that cannot be reached before the reader ever got through to it: the URL
may be wrong, and a worker started so should say so and exit.

A publisher does not wait outages out: :func:`outage` makes the error it raises,
which says whether anything may have reached Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import redis

from ._packed import MaybeSent
from ._urls import safe_url
from .errors import PoolExhausted, TransportError, TransportOutcomeUnknown

if TYPE_CHECKING:
    from ._config import RedisConfig

__all__ = ["Outage", "is_fatal", "outage"]

logger = logging.getLogger("llmgine.redis")

#: first and longest wait between attempts, in seconds
FIRST_DELAY = 0.05
MAX_DELAY = 2.0


def is_fatal(exc: BaseException) -> bool:
    """Whether ``exc`` is a Redis error that waiting does not fix: credentials or ACLs."""
    if isinstance(exc, redis.AuthenticationError | redis.exceptions.NoPermissionError):
        return True
    # ACL refusals inside a script, or from servers whose reply redis-py does not map
    text = str(exc)
    return isinstance(exc, redis.ResponseError) and any(p in text for p in _REFUSALS)


#: what Redis says when an ACL denies a command (inside a script, Redis 7 says the second)
_REFUSALS = ("NOPERM", "can't run this command", "no permissions to run")


class Outage:
    """The state of a reader's outage, if it is in one: since when, how many failures, next wait."""

    def __init__(self, who: str, url: str) -> None:
        self.who = who
        self.url = url  # for messages: without its password
        self.since: float | None = None
        self.failures = 0
        self._delay = FIRST_DELAY
        self._wake: asyncio.Event | None = None
        self._stopped = False

    def failed(self, exc: Exception, what: str, held: int = 0, started: bool = True) -> float:
        """Record a failure of ``what``; return how long to wait before the next attempt.

        Raises ``exc`` again if it is fatal (:func:`is_fatal`), and a
        :class:`TransportError` if Redis could not be reached and the reader has not
        ``started`` (reached it once). The first failure of an outage logs a warning
        naming what failed, the error, and the entries waiting to be acknowledged
        (``held``); later ones log at debug level.
        """
        unreachable = isinstance(exc, redis.ConnectionError | redis.TimeoutError)
        if not started and unreachable and not isinstance(exc, redis.BusyLoadingError):
            raise TransportError(
                f"{self.who}: {what} failed: Redis at {self.url} cannot be reached "
                f"({type(exc).__name__}: {exc}); check that Redis is running and that the "
                "URL (LLMGINE_REDIS_URL, or the worker's --url) is right"
            ) from exc
        if is_fatal(exc):
            logger.error(
                "%s: %s failed: %s: %.300s; Redis refuses it for this user, which no retry "
                "fixes: check the credentials in the URL and that the user's ACL allows the "
                "commands the transport needs (see the llmgine-redis README)",
                self.who,
                what,
                type(exc).__name__,
                exc,
            )
            raise exc
        self.failures += 1
        delay, self._delay = self._delay, min(self._delay * 2, MAX_DELAY)
        if self.since is None:
            self.since = time.monotonic()
            waiting = (
                f"; {held} entries wait to be acknowledged (kept, not lost) and no more are "
                "read until Redis takes them"
                if held
                else ""
            )
            logger.warning(
                "%s: %s failed: %s: %.300s%s; retrying with backoff (up to %.0f s) until "
                "Redis recovers",
                self.who,
                what,
                type(exc).__name__,
                exc,
                waiting,
                MAX_DELAY,
            )
        else:
            logger.debug("%s: %s failed again: %s", self.who, what, exc)
        return delay

    def recovered(self) -> None:
        """An attempt succeeded: end the outage, if any, with one log line."""
        if self.since is None:
            return
        logger.info(
            "%s: Redis recovered after %.1f s (%d failed attempts)",
            self.who,
            time.monotonic() - self.since,
            self.failures,
        )
        self.since = None
        self.failures = 0
        self._delay = FIRST_DELAY

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if :meth:`stop` is called meanwhile."""
        if self._wake is None:
            self._wake = asyncio.Event()  # here: it belongs to the loop that waits
        if self._stopped:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def stop(self) -> None:
        """End the current and every later :meth:`pause` at once (the reader stops)."""
        self._stopped = True
        if self._wake is not None:
            self._wake.set()

    def group_lost(self, exc: Exception) -> None:
        """Log that Redis lost the group (``NOGROUP``), which the reader creates again at 0."""
        logger.warning(
            "%s: Redis lost the group (%.200s): it restarted empty, or the group was "
            "deleted; creating it again at '0', so that the entries the stream holds are "
            "delivered (again, if it kept them; the group's dedup set skips the events it "
            "remembers)",
            self.who,
            exc,
        )


def outage(
    what: str,
    config: RedisConfig,
    key: str,
    exc: BaseException,
    *,
    unknown: bool = False,
    events: Any = (),
    command: Any = None,
) -> TransportError:
    """The error raised when Redis failed a publish: what failed, where, and what to check.

    ``events`` (of a failed publish) and ``command`` (of a remote command) are what the
    caller publishes again to retry. The error is a :class:`TransportOutcomeUnknown`
    if ``unknown`` or ``exc`` is a :class:`~llmgine_redis._packed.MaybeSent` (Redis may
    have what was sent), else a plain :class:`TransportError` (nothing was published).
    """
    if isinstance(exc, MaybeSent):
        unknown, exc = True, exc.__cause__ or exc
    where = f"{what}: Redis at {safe_url(config.url)} (key {key!r}) failed: "
    if isinstance(exc, PoolExhausted):  # Redis is fine: this process is too busy
        where += str(exc)
    else:
        where += f"{type(exc).__name__}: {exc}. Check that Redis is running and "
        where += "LLMGINE_REDIS_URL is right"
    if not unknown:
        return TransportError(f"{where}; nothing was published, so the caller may retry", events)
    retry = (
        "dispatch the same command object again (it keeps its command_id, which its "
        "handler can dedupe by)"
        if command is not None
        else "re-emit the same event objects (TransportOutcomeUnknown.events), which keep "
        "their event ids, so consumers skip the copies that arrived"
    )
    return TransportOutcomeUnknown(
        f"{where}; the outcome is unknown: Redis may have taken some or all of it (the error "
        f"came after sending began), so a retry may duplicate it: {retry}",
        events,
        command,
    )
