"""A batch of one command that differs only in its last argument, written in one go.

redis-py's pipeline queues, packs and parses every command through several layers:
about 10 us of CPU per XADD, more than encoding the event. Here the batch is packed
with one join (the fixed arguments packed once) and its replies are read straight
off a pooled connection. As with a pipeline, every reply is read before an error
reply is raised (so the connection stays in step), and a connection error drops the
connection and resends the whole batch under the client's retry policy: the very
same bytes, so an event sent twice keeps its event id and consumers skip the copy.

What the caller sees after the retries tells whether Redis may have the batch:

* the error itself (a ``redis.RedisError``) when provably nothing of it was
  appended: no attempt got past connecting, or Redis refused every entry;
* :class:`MaybeSent`, from the last error, when some or all of it may have been
  appended: an attempt began sending (a timeout or lost connection after that may
  come after Redis took it, or before it runs it), or Redis took only some entries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import redis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["Attempts", "Batch", "MaybeSent", "xadd_batch"]


class MaybeSent(redis.RedisError):
    """The batch may have been appended, in part or whole; ``__cause__`` is the last error."""


class Batch:
    """``args + (value,)`` for each value: pack it, send it with a sync or asyncio client."""

    def __init__(self, *args: str | bytes | int) -> None:
        self._head = b"*%d\r\n%s" % (len(args) + 1, b"".join(map(_bulk, args)))

    def pack(self, values: Sequence[bytes]) -> bytes:
        """The RESP bytes of one command per value."""
        head = self._head
        return b"".join([b"%s$%d\r\n%s\r\n" % (head, len(v), v) for v in values])

    def send(self, client: redis.Redis, values: Sequence[bytes]) -> None:
        """Run the batch on ``client``; raise as the module docstring says."""
        payload, count = [self.pack(values)], len(values)
        pool = client.connection_pool
        conn: Any = pool.get_connection()
        outcome = Attempts(count)

        def exchange() -> None:
            # Connecting (and a health check) sends nothing of the batch: an error
            # there leaves it unsent, unless an earlier attempt had sent it.
            with _tried_once(conn, _ONCE):
                conn.connect()
                conn.check_health()
            outcome.sending()
            try:
                conn.send_packed_command(payload, check_health=False)
                for _ in range(count):
                    try:
                        conn.read_response()
                    except redis.ResponseError as exc:
                        outcome.refused(exc)
            except BaseException:
                conn.disconnect()  # replies may be left unread on it
                raise
            outcome.check()

        try:
            conn.retry.call_with_retry(exchange, lambda _: conn.disconnect())
        except redis.RedisError as exc:
            raise outcome.error(exc) from exc
        finally:
            pool.release(conn)

    async def send_async(self, client: Any, values: Sequence[bytes]) -> None:
        """Like :meth:`send` with a ``redis.asyncio`` client."""
        payload, count = [self.pack(values)], len(values)
        pool = client.connection_pool
        conn = await pool.get_connection()
        outcome = Attempts(count)

        async def exchange() -> None:
            with _tried_once(conn, _ONCE_ASYNC):
                await conn.connect()
                await conn.check_health()
            outcome.sending()
            try:
                await conn.send_packed_command(payload, check_health=False)
                for _ in range(count):
                    try:
                        await conn.read_response()
                    except redis.ResponseError as exc:
                        outcome.refused(exc)
            except BaseException:
                await conn.disconnect(nowait=True)
                raise
            outcome.check()

        async def drop(_: Exception) -> None:
            await conn.disconnect()

        try:
            await conn.retry.call_with_retry(exchange, drop)
        except redis.RedisError as exc:
            raise outcome.error(exc) from exc
        finally:
            await pool.release(conn)


class Attempts:
    """What the attempts at one batch did: how many began sending, what Redis refused."""

    __slots__ = ("count", "first_refusal", "refusals", "sends")

    def __init__(self, count: int) -> None:
        self.count = count
        self.sends = 0
        self.refusals = 0
        self.first_refusal: redis.ResponseError | None = None

    def sending(self) -> None:
        """An attempt begins writing the batch."""
        self.sends += 1
        self.refusals, self.first_refusal = 0, None  # (a resend: only its replies count)

    def refused(self, exc: redis.ResponseError) -> None:
        """Redis refused one entry of the current attempt."""
        self.refusals += 1
        self.first_refusal = self.first_refusal or exc

    def check(self) -> None:
        """Raise the first error reply, if any (every reply has been read)."""
        if self.first_refusal is not None:
            raise self.first_refusal

    def error(self, exc: redis.RedisError) -> redis.RedisError:
        """What the caller gets for the last error ``exc``: itself, or :class:`MaybeSent`."""
        if self.sends == 0:
            return exc  # no attempt got past connecting
        if self.sends == 1 and self.refusals == self.count:
            return exc  # the only attempt that sent it: Redis refused every entry
        # A timeout or lost connection after sending began, a partial refusal, or a
        # refusal after an earlier attempt that may have been appended.
        return MaybeSent(f"{type(exc).__name__}: {exc}")


def xadd_batch(stream: str, trim: Mapping[str, Any]) -> Batch:
    """The XADDs of entries with one field ``m`` to ``stream``, trimmed as ``trim`` says.

    ``trim`` is :meth:`~llmgine_redis._config.RedisConfig.trim`'s: ``minid`` or
    ``maxlen`` (``None``: no cap), both approximate.
    """
    if trim.get("minid") is not None:
        return Batch("XADD", stream, "MINID", "~", trim["minid"], "*", "m")
    if trim.get("maxlen") is not None:
        return Batch("XADD", stream, "MAXLEN", "~", trim["maxlen"], "*", "m")
    return Batch("XADD", stream, "*", "m")


def _bulk(arg: str | bytes | int) -> bytes:
    data = arg if isinstance(arg, bytes) else str(arg).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


#: one try, no backoff: what a connection's connect() and check_health() get inside a batch
_ONCE = Retry(NoBackoff(), 0)
_ONCE_ASYNC = AsyncRetry(NoBackoff(), 0)


@contextlib.contextmanager
def _tried_once(conn: Any, once: Any) -> Iterator[None]:
    """Let ``conn`` connect and check its health with one try each.

    redis-py retries both with the connection's own policy, the one the batch's
    attempts already follow: nested, a dead connection would cost retries x retries
    socket timeouts instead of retries. (The connection is this batch's alone until
    it is released to the pool.)
    """
    policy, conn.retry = conn.retry, once
    try:
        yield
    finally:
        conn.retry = policy
