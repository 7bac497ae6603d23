"""Clients and their connection pools: sized, with timeouts that end every wait, one per event loop.

Every pool is a blocking one: when all its connections are busy, a caller waits for
one (as long as one command of that client may take) instead of failing at once,
then gets :class:`PoolExhausted`, which names the ``max_connections`` setting.

An asyncio client belongs to the event loop it was first used in (its connections,
locks and futures do), so :class:`LoopClients` keeps one per loop.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio

from .errors import PoolExhausted

__all__ = ["HEALTH_CHECK_SECONDS", "LoopClients", "make_async", "make_sync"]

#: a connection idle this long is PINGed before it is used again
HEALTH_CHECK_SECONDS = 30

#: what redis-py's blocking pools raise when no connection came free in time
_NONE_FREE = "No connection available."


def _exhausted(pool: Any) -> PoolExhausted:
    return PoolExhausted(
        f"all {pool.max_connections} connections of this process's pool to Redis are busy "
        f"(waited {pool.timeout:g}s for one): raise the max_connections setting "
        "(LLMGINE_REDIS_MAX_CONNECTIONS), or run fewer emits, remote commands or command "
        "handlers at once"
    )


class _SyncPool(redis.BlockingConnectionPool):
    def get_connection(self, *args: Any, **options: Any) -> Any:
        try:
            return super().get_connection(*args, **options)  # type: ignore[no-untyped-call,unused-ignore]
        except redis.ConnectionError as exc:
            if str(exc) != _NONE_FREE:
                raise
            raise _exhausted(self) from None


class _AsyncPool(redis.asyncio.BlockingConnectionPool):
    async def get_connection(self, *args: Any, **options: Any) -> Any:
        try:
            return await super().get_connection(*args, **options)  # type: ignore[no-untyped-call,unused-ignore]
        except redis.ConnectionError as exc:
            if str(exc) != _NONE_FREE:
                raise
            raise _exhausted(self) from None


def _keepalive_options() -> dict[int, int]:
    """TCP keepalive probes after 30 s idle, every 10 s, 3 unanswered: dead (where settable).

    They keep NAT and firewall state of idle pooled connections alive, and find the
    dead ones.
    """
    idle = getattr(socket, "TCP_KEEPIDLE", None) or getattr(socket, "TCP_KEEPALIVE", None)
    wanted = {idle: 30, getattr(socket, "TCP_KEEPINTVL", None): 10}
    wanted[getattr(socket, "TCP_KEEPCNT", None)] = 3
    return {option: value for option, value in wanted.items() if option is not None}


_KEEPALIVE = _keepalive_options()


def tcp_options(url: str) -> dict[str, Any]:
    """The TCP keepalive options for ``url`` (none for ``unix://``, which takes none)."""
    if urlsplit(url).scheme not in ("redis", "rediss"):
        return {}
    return {"socket_keepalive": True, "socket_keepalive_options": _KEEPALIVE}


def make_sync(url: str, options: dict[str, Any]) -> redis.Redis:
    """A synchronous client of ``url`` on a blocking pool (``options``: pool and connection)."""
    return redis.Redis.from_pool(_SyncPool.from_url(url, **options))


def make_async(url: str, options: dict[str, Any]) -> redis.asyncio.Redis:
    """An asyncio client of ``url`` on a blocking pool that closes with the client."""
    if _FastConnection is not None and urlsplit(url).scheme == "redis":
        options = {**options, "connection_class": _FastConnection}
    return redis.asyncio.Redis.from_pool(_AsyncPool.from_url(url, **options))


def _fast_connection() -> type | None:
    """An asyncio connection that packs commands with hiredis, as redis-py's sync one does.

    redis-py's asyncio connection packs every argument in Python; acknowledging and
    deduplicating a batch sends thousands of them. TLS and unix sockets keep the default.
    """
    try:
        import hiredis
    except ImportError:  # pragma: no cover
        return None

    class FastConnection(redis.asyncio.Connection):
        def pack_command(self, *args: Any) -> list[bytes]:
            if isinstance(args[0], str):
                args = (*args[0].encode().split(), *args[1:])
            try:
                return [hiredis.pack_command(args)]
            except TypeError as exc:
                raise redis.DataError(str(exc)) from exc

    return FastConnection


_FastConnection = _fast_connection()


class LoopClients:
    """One asyncio client per event loop, made by ``make`` on first use in that loop.

    Safe to use from the event loops of several threads: a client is made under a
    lock, and a loop only ever gets its own. Clients of loops that were closed
    are forgotten (nothing can await their closing any more; their sockets close
    when collected).
    """

    def __init__(self, make: Callable[[], redis.asyncio.Redis]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis]
        self._clients = weakref.WeakKeyDictionary()
        #: the loop asked last and its client: most callers use one loop
        self._last: tuple[asyncio.AbstractEventLoop, redis.asyncio.Redis] | None = None

    def get(self) -> redis.asyncio.Redis:
        """The running event loop's client."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0] is loop:
            return last[1]
        with self._lock:
            client = self._clients.get(loop)
            if client is None:
                self._forget_closed()
                client = self._clients[loop] = self._make()
            self._last = (loop, client)
        return client

    async def aclose(self) -> None:
        """Close the running event loop's client (a later :meth:`get` makes a new one)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.pop(loop, None)
            if self._last is not None and self._last[0] is loop:
                self._last = None
        if client is not None:
            await client.aclose()

    def forget_closed(self) -> None:
        """Drop the clients of event loops that were closed (they cannot be used again)."""
        with self._lock:
            self._forget_closed()

    def _forget_closed(self) -> None:
        for loop in [loop for loop in self._clients if loop.is_closed()]:
            del self._clients[loop]
        if self._last is not None and self._last[0].is_closed():
            self._last = None
