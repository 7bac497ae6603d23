"""Settings, key names and connections.

Key names (a contract between services; ``prefix`` defaults to ``llmgine``):

* ``{prefix}:events`` - the event stream (``stream=`` overrides it)
* ``{stream}:dead`` - dead-lettered events, with the reason
* ``{stream}:seen:{group}`` - sorted set of event ids a group processed (dedup window)
* ``{prefix}:commands:{wire name}`` - one stream per remote command type, read by the
  group ``command_group`` (default ``llmgine-workers``); ``{that stream}:dead`` for its
  dead letters
* ``{prefix}:reply:{command_id}`` - list the worker pushes a command's outcome to
* ``{stream}:consumers:{group}`` - sorted set of the group's live consumers on a stream
  (event or command): consumer name -> last heartbeat, in ms of Redis's clock

So that no stream's key is another's dead letters, dedup set or heartbeats, wire
names, ``prefix`` and ``stream`` may not end in ``:dead`` nor contain ``:seen:`` or
``:consumers:`` (:func:`check_not_reserved`).
"""

from __future__ import annotations

import math
import os
import socket
import time
import uuid
from typing import Any

import attrs
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from ._clients import HEALTH_CHECK_SECONDS, make_async, make_sync, tcp_options
from ._urls import check_url, safe_url

__all__ = [
    "TRANSPORT_ENV",
    "URL_ENV",
    "RedisConfig",
    "check_not_reserved",
    "text",
]

#: ``LLMGINE_TRANSPORT=redis`` selects this plugin (its ``startup`` hook starts the transport).
TRANSPORT_ENV = "LLMGINE_TRANSPORT"
URL_ENV = "LLMGINE_REDIS_URL"
DEFAULT_URL = "redis://127.0.0.1:6379/0"


#: the least ``consumer_idle_ms``: below it the 50 ms between heartbeats, not a
#: quarter of consumer_idle_ms, would set their pace
MIN_CONSUMER_IDLE_MS = 200


def check_not_reserved(name: str, what: str) -> None:
    """Raise ``ValueError`` if ``name`` ends in ``:dead`` or contains ``:seen:`` or ``:consumers:``.

    The plugin adds those to a stream's key for its dead letters, dedup set and
    heartbeats, so a stream, or the wire name or prefix that makes one, named so
    could be another stream's. ``what`` (e.g. ``"RedisConfig.stream 'x:dead'"``)
    starts the message.
    """
    part = ":dead" if name.endswith(":dead") else None
    for infix in (":seen:", ":consumers:"):
        if infix in name:
            part = infix
    if part is not None:
        raise ValueError(
            f"{what} contains {part!r}: names of streams, and the wire names and prefix that "
            "make them, may not end in ':dead' nor contain ':seen:' or ':consumers:', which "
            "the plugin adds to a stream's key for its dead letters, dedup set and heartbeats "
            "(a stream of that name would be another's); choose another name"
        )


@attrs.frozen(kw_only=True)
class RedisConfig:
    """Everything the transport needs; each field is a setting of :func:`~llmgine_redis.install`
    and an environment variable ``LLMGINE_REDIS_<FIELD>``."""

    url: str = attrs.field(
        factory=lambda: os.environ.get(URL_ENV, DEFAULT_URL),
        validator=lambda _self, _attribute, url: check_url(url),
        repr=lambda url: repr(safe_url(url)),  # its secrets never in a message
    )
    prefix: str = attrs.field(default="llmgine")
    #: the event stream; default ``{prefix}:events``
    stream: str | None = attrs.field(default=None)
    #: event type patterns sent to Redis (``*`` one segment, ``**`` any); None: every
    #: registered event type
    patterns: tuple[str, ...] | None = None
    #: retention: ``XADD MAXLEN ~ maxlen`` (None: no length cap) ...
    maxlen: int | None = 1_000_000
    #: ... or ``XADD MINID ~`` of entries older than ``min_age`` seconds (overrides maxlen)
    min_age: float | None = None
    #: consumer: entries per XREADGROUP, and how long one blocks
    batch: int = attrs.field(default=500)
    block_ms: int = attrs.field(default=500)
    #: reclaim (XAUTOCLAIM) entries another consumer left pending this long
    claim_idle_ms: int = 30_000
    #: remove (XGROUP DELCONSUMER) a consumer of the group that holds no pending entries,
    #: has been idle this long and sent no heartbeat meanwhile (its process is gone);
    #: None: never remove consumers. Ten times the default claim_idle_ms; at least
    #: 200 and more than twice block_ms.
    consumer_idle_ms: int | None = attrs.field(default=300_000)
    #: an entry reclaimed after this many deliveries (each ended by a crash or hang)
    #: is dead-lettered instead of being delivered again
    max_deliveries: int = attrs.field(default=10)
    #: deliveries of a failing subscriber before the event is dead-lettered
    max_attempts: int = attrs.field(default=3)
    retry_backoff: float = 0.1
    #: dedup: event ids processed by the group in the last ``dedup_window`` seconds
    #: (at most ``dedup_max`` of them) are acknowledged without running subscribers again
    dedup_window: float = 600.0
    dedup_max: int = 100_000
    #: larger entries are dead-lettered unread
    max_entry_bytes: int = 1_048_576
    #: remote commands
    command_group: str = "llmgine-workers"
    command_timeout: float = 30.0
    command_concurrency: int = attrs.field(default=16)
    reply_ttl: int = attrs.field(default=300)
    #: connection retries (exponential backoff) before an error reaches the caller
    retries: int = attrs.field(default=3)
    #: seconds Redis may take to answer (beyond the wait a blocking command asks for)
    #: before the connection counts as dead (a partition, a half-open connection)
    #: and the command is retried on a new one
    socket_timeout: float = attrs.field(default=10.0)
    #: connections each pool may open (the publisher's for threads and one per event
    #: loop, the remote-command callers' per event loop, each reader's); more
    #: concurrent users wait for a free one
    max_connections: int = attrs.field(default=1000)

    @prefix.validator
    @stream.validator
    def _check_key(self, attribute: attrs.Attribute[str | None], value: Any) -> None:
        if isinstance(value, str):
            check_not_reserved(value, f"RedisConfig.{attribute.name} {value!r}")

    @batch.validator
    @max_deliveries.validator
    @max_attempts.validator
    @command_concurrency.validator
    @reply_ttl.validator
    @retries.validator
    def _check_count(self, attribute: attrs.Attribute[int], value: Any) -> None:
        # (the type is checked with the other settings': see _settings)
        least = 0 if attribute.name == "retries" else 1
        if isinstance(value, int) and not isinstance(value, bool) and value < least:
            raise ValueError(f"RedisConfig.{attribute.name} must be at least {least}; got {value}")

    @socket_timeout.validator
    def _check_socket_timeout(self, attribute: attrs.Attribute[float], value: Any) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise TypeError(
                f"RedisConfig.socket_timeout must be a number of seconds, not {value!r} "
                f"({type(value).__name__})"
            )
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(
                f"RedisConfig.socket_timeout must be a finite number of seconds above 0 (a "
                f"dead connection must time out); got {value}"
            )

    @max_connections.validator
    def _check_max_connections(self, attribute: attrs.Attribute[int], value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(
                f"RedisConfig.max_connections must be a whole number, not {value!r} "
                f"({type(value).__name__})"
            )
        if value < 1:
            raise ValueError(f"RedisConfig.max_connections must be at least 1; got {value}")

    @block_ms.validator
    def _check_block_ms(self, attribute: attrs.Attribute[int], value: Any) -> None:
        # BLOCK 0 would wait for an entry forever: stop() would never be seen.
        _check_ms(attribute.name, value, 1)

    @consumer_idle_ms.validator
    def _check_consumer_idle_ms(self, attribute: attrs.Attribute[int | None], value: Any) -> None:
        if value is None:
            return
        # A live consumer beats every quarter of consumer_idle_ms, but no more often
        # than every 50 ms (GroupReader._housekeeping), each after at most one read of
        # block_ms. From 200 ms on the quarter is at least 50 ms, so with more than
        # twice block_ms two beats are less than 3/4 of consumer_idle_ms apart (plus
        # the handling of a batch read, whose pending entries protect it meanwhile).
        _check_ms(
            attribute.name,
            value,
            max(MIN_CONSUMER_IDLE_MS, 2 * self.block_ms + 1),
            f" ({MIN_CONSUMER_IDLE_MS} ms and more than twice block_ms, {self.block_ms}: a "
            "live consumer beats every quarter of consumer_idle_ms but no more often than "
            "every 50 ms, and may wait block_ms in a read between beats; it must not be taken "
            "for gone), or None never to remove consumers",
            also=" or None (never remove consumers)",
        )

    @property
    def event_stream(self) -> str:
        """The event stream's key."""
        return self.stream or f"{self.prefix}:events"

    def command_stream(self, wire_name: str) -> str:
        """The stream a remote command type travels on."""
        return f"{self.prefix}:commands:{wire_name}"

    def reply_key(self, command_id: str) -> str:
        """The list a command's outcome is pushed to."""
        return f"{self.prefix}:reply:{command_id}"

    def trim(self) -> dict[str, Any]:
        """XADD keyword arguments for the configured retention."""
        if self.min_age is not None:
            return {"minid": int((time.time() - self.min_age) * 1000), "approximate": True}
        return {"maxlen": self.maxlen, "approximate": True}

    def _options(self, wait: float, connections: int, asyncio: bool) -> dict[str, Any]:
        """Connection and pool options of a client whose commands ask Redis to wait ``wait`` s."""
        # The asyncio client needs the asyncio Retry: the sync one would not await
        # the call it retries, so it would never retry anything.
        retry_class = AsyncRetry if asyncio else Retry
        # Every read ends: on a half-open connection (a partition without RST) a command
        # times out after the longest wait it asked for plus socket_timeout, and is
        # retried on a new connection. A caller waits as long for a pooled connection.
        timeout = wait + self.socket_timeout
        return {
            "retry": retry_class(ExponentialBackoff(cap=1.0, base=0.05), self.retries),
            "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
            "socket_connect_timeout": 5,
            "socket_timeout": timeout,
            "health_check_interval": HEALTH_CHECK_SECONDS,
            "max_connections": connections,
            "timeout": timeout,
            **tcp_options(self.url),
        }

    def sync_client(self) -> redis.Redis:
        """A synchronous client (URL passwords and ``rediss://`` pass through to redis-py).

        Its pool holds up to ``max_connections`` (more threads wait for one).
        """
        return make_sync(self.url, self._options(0.0, self.max_connections, asyncio=False))

    def async_client(
        self, blocking: bool = False, *, wait: float | None = None
    ) -> redis.asyncio.Redis:
        """An asyncio client of the running event loop (use it in that loop only).

        ``blocking``: a group reader's client, whose XREADGROUP blocks ``block_ms`` and
        whose pool also serves ``command_concurrency`` command replies at once.
        ``wait``: the longest (seconds) a command of the client asks Redis to wait,
        e.g. ``command_timeout`` for a BLPOP (default: ``block_ms`` if ``blocking``, else 0).
        Reads time out ``socket_timeout`` seconds after that.
        """
        if wait is None:
            wait = self.block_ms / 1000 if blocking else 0.0
        connections = self.max_connections
        if blocking:  # the read, each running command's reply and the housekeeping
            connections = max(connections, self.command_concurrency + 8)
        return make_async(self.url, self._options(wait, connections, asyncio=True))


def text(value: Any) -> str:
    """A name from a Redis reply as ``str`` (replies are ``bytes`` unless decoded)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _check_ms(name: str, value: Any, least: int, why: str = "", also: str = "") -> None:
    """Raise unless ``value`` is a whole number of milliseconds, at least ``least``.

    ``why`` follows the least value in the message, ``also`` (what else is accepted)
    the type.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(
            f"RedisConfig.{name} must be a whole number of milliseconds{also}, "
            f"not {value!r} ({type(value).__name__})"
        )
    if value < least:
        raise ValueError(f"RedisConfig.{name} must be at least {least} ms{why}; got {value}")


def consumer_name() -> str:
    """A consumer name unique to this process: host, pid and a random part."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
