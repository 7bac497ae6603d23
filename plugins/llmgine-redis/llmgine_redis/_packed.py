"""A batch of one command that differs only in its last argument, written in one go.

redis-py's pipeline queues, packs and parses every command through several layers:
about 10 us of CPU per XADD, more than encoding the event. Here the batch is packed
with one join (the fixed arguments packed once) and its replies are read straight
off a pooled connection. As with a pipeline, every reply is read before an error
reply is raised (so the connection stays in step), a connection error drops the
connection and resends the whole batch under the client's retry policy, and what
the caller sees after the retries is the last error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

__all__ = ["Batch"]


class Batch:
    """``args + (value,)`` for each value: pack it, send it with a sync or asyncio client."""

    def __init__(self, *args: str | bytes | int) -> None:
        self._head = b"*%d\r\n%s" % (len(args) + 1, b"".join(map(_bulk, args)))

    def pack(self, values: Sequence[bytes]) -> bytes:
        """The RESP bytes of one command per value."""
        head = self._head
        return b"".join([b"%s$%d\r\n%s\r\n" % (head, len(v), v) for v in values])

    def send(self, client: redis.Redis, values: Sequence[bytes]) -> None:
        """Run the batch on ``client``; raise the first error reply, or the connection error."""
        payload, count = [self.pack(values)], len(values)
        pool = client.connection_pool
        conn: Any = pool.get_connection()

        def exchange() -> None:
            try:
                conn.send_packed_command(payload)
                error = None
                for _ in range(count):
                    try:
                        conn.read_response()
                    except redis.ResponseError as exc:
                        error = error or exc
            except BaseException:
                conn.disconnect()  # replies may be left unread on it
                raise
            if error is not None:
                raise error

        try:
            conn.retry.call_with_retry(exchange, lambda _: conn.disconnect())
        finally:
            pool.release(conn)

    async def send_async(self, client: Any, values: Sequence[bytes]) -> None:
        """Like :meth:`send` with a ``redis.asyncio`` client."""
        payload, count = [self.pack(values)], len(values)
        pool = client.connection_pool
        conn = await pool.get_connection()

        async def exchange() -> None:
            try:
                await conn.send_packed_command(payload)
                error = None
                for _ in range(count):
                    try:
                        await conn.read_response()
                    except redis.ResponseError as exc:
                        error = error or exc
            except BaseException:
                await conn.disconnect(nowait=True)
                raise
            if error is not None:
                raise error

        async def drop(_: Exception) -> None:
            await conn.disconnect()

        try:
            await conn.retry.call_with_retry(exchange, drop)
        finally:
            await pool.release(conn)


def _bulk(arg: str | bytes | int) -> bytes:
    data = arg if isinstance(arg, bytes) else str(arg).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)
