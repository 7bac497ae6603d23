"""Reading streams as one consumer of a group: new entries, reclaimed ones, acks and dead letters.

The event consumer and the command server are both a :class:`GroupReader`. Each
poll reclaims (``XAUTOCLAIM``) entries that another consumer left pending longer
than ``claim_idle_ms`` (it died), reads new ones (``XREADGROUP``), hands them to
:meth:`GroupReader.handle`, then writes dead letters and acknowledgements in one
pipeline, dead letters first, so an entry is never acknowledged before its dead
letter is stored.

Less often (every quarter of ``consumer_idle_ms``) a reader also records that it
is alive and removes the consumers that left the group (see :mod:`._sweep`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from typing import Any

import redis
import redis.asyncio

from ._config import RedisConfig, consumer_name, text
from ._sweep import forget_departed

__all__ = ["GroupReader"]

logger = logging.getLogger("llmgine.redis")

#: a dead letter keeps this much of each field of the original entry
_KEEP_BYTES = 65_536
_KEEP_FIELDS = 32


class GroupReader:
    """One consumer (``consumer``) of group ``group`` on ``streams``."""

    def __init__(
        self,
        config: RedisConfig,
        group: str,
        streams: list[str],
        consumer: str | None = None,
    ) -> None:
        if not group:
            raise ValueError("a consumer group name is needed, e.g. the service's name")
        self.config = config
        self.group = group
        self.streams = streams
        self.consumer = consumer or consumer_name()
        self.client: Any = None
        self._stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()
        #: (stream, entry id) being worked on by a task: not to be reclaimed by us
        self._in_flight: set[tuple[str, bytes]] = set()
        self._acks: defaultdict[str, list[bytes]] = defaultdict(list)
        self._dead: list[tuple[str, dict[str | bytes, Any]]] = []
        self._last_claim = 0.0
        self._last_forget = 0.0
        self._forgetting = config.consumer_idle_ms is not None
        self._due = 0.0  # when poll() next reclaims or forgets
        #: departed consumers this reader removed from the group
        self.consumers_removed = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} group={self.group!r} consumer={self.consumer!r}>"

    async def handle(self, stream: str, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Process entries read from ``stream`` (subclasses)."""
        raise NotImplementedError

    def extend_flush(self, pipe: Any) -> None:
        """Add commands to the pipeline that acknowledges (subclasses)."""

    # Lifecycle -------------------------------------------------------------------

    def _connect(self) -> Any:
        if self.client is None:
            self.client = self.config.async_client(blocking=True)
        return self.client

    async def ensure_groups(self, start_id: str = "$") -> None:
        """Create the group on each stream (and the stream) unless it exists.

        ``start_id`` ``"$"`` (default) reads only entries added after the group was
        created; ``"0"`` also reads what the stream still retains.
        """
        client = self._connect()
        for stream in self.streams:
            try:
                await client.xgroup_create(stream, self.group, id=start_id, mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def stop(self) -> None:
        """Stop reading after the current poll; :meth:`run` then drains and returns."""
        self._stopping = True

    async def run(self, start_id: str = "$") -> None:
        """Poll until :meth:`stop`, riding out Redis outages, then drain."""
        await self.ensure_groups(start_id)
        delay = 0.05
        try:
            while not self._stopping:
                try:
                    await self.poll()
                    delay = 0.05
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    logger.warning(
                        "%r: Redis unreachable (%s); retrying in %.2fs", self, exc, delay
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                except redis.ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    await self.ensure_groups(start_id)  # Redis lost the group (restarted empty)
        finally:
            await self.drain()

    async def drain(self) -> None:
        """Wait for work in flight, write what is pending, close the connection."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        if self.client is not None:
            try:
                await self.flush()
            finally:
                await self.client.aclose()
                self.client = None

    # One round ---------------------------------------------------------------------

    async def poll(self) -> int:
        """Reclaim (and forget departed consumers) if due, flush and read one batch, handle it.

        Returns how many entries it handled.

        The acknowledgements of a batch travel with the read of the next one: Redis
        runs them in order, so they are applied before the read blocks.
        """
        count = 0
        now = time.monotonic()
        if now >= self._due:
            count += await self._housekeeping(now)
        reply = await self.flush(read=True)
        if isinstance(reply, dict):  # RESP3 (protocol=3 in the URL): {stream: [[entries]]}
            reply = [(k, v[0] if v and isinstance(v[0], list) else v) for k, v in reply.items()]
        for stream, entries in reply or ():
            count += len(entries)
            await self.handle(text(stream), entries)
        return count

    async def _housekeeping(self, now: float) -> int:
        """Reclaim, then forget departed consumers, each when due; return how many reclaimed."""
        count = 0
        claim_every = max(self.config.claim_idle_ms / 2000, 0.05)
        if now - self._last_claim >= claim_every:
            self._last_claim = now
            count = await self.reclaim()
        due = self._last_claim + claim_every
        idle_ms = self.config.consumer_idle_ms
        if idle_ms is not None:
            # Four heartbeats per consumer_idle_ms: a live reader is never taken for gone.
            # (Also once it stopped removing consumers: others still may.)
            forget_every = max(idle_ms / 4000, 0.05)
            if now - self._last_forget >= forget_every:
                self._last_forget = now
                await self.forget_idle_consumers()
            due = min(due, self._last_forget + forget_every)
        self._due = due
        return count

    async def forget_idle_consumers(self) -> list[str]:
        """Remove consumers of the group that left it; return their names.

        Records this consumer's heartbeat, then, on each stream, deletes
        (``XGROUP DELCONSUMER``) every consumer that holds no pending entries, has
        been idle for ``consumer_idle_ms`` and has no recent heartbeat; never this
        one. :meth:`poll` calls it every quarter of ``consumer_idle_ms``. After a
        delete reported pending entries (see :mod:`._sweep`) it only records the
        heartbeat.
        """
        idle_ms = self.config.consumer_idle_ms
        if idle_ms is None:
            return []
        names, safe = await forget_departed(
            self._connect(),
            self.streams,
            self.group,
            self.consumer,
            idle_ms,
            repr(self),
            remove=self._forgetting,
        )
        self._forgetting = self._forgetting and safe
        self.consumers_removed += len(names)
        return names

    async def reclaim(self) -> int:
        """Take over entries other consumers left pending too long; return how many."""
        client = self._connect()
        total = 0
        for stream in self.streams:
            start: Any = "0-0"
            while True:
                start, claimed, *_ = await client.xautoclaim(
                    stream,
                    self.group,
                    self.consumer,
                    min_idle_time=self.config.claim_idle_ms,
                    start_id=start,
                    count=self.config.batch,
                )
                fresh = [(i, f) for i, f in claimed if (stream, i) not in self._in_flight]
                if fresh:
                    fresh = await self._drop_poison(stream, fresh)
                    total += len(fresh)
                    await self.handle(stream, fresh)
                if start in (b"0-0", "0-0"):
                    break
        return total

    async def _drop_poison(
        self, stream: str, entries: list[tuple[bytes, dict[bytes, bytes]]]
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Dead-letter reclaimed entries delivered ``max_deliveries`` times already.

        An entry whose handling kills the process would otherwise be reclaimed and
        kill the next consumer too, forever.
        """
        ids = sorted((i for i, _ in entries), key=_id_order)  # "10-0" > "9-0": by number
        pending = await self._connect().xpending_range(
            stream, self.group, ids[0], ids[-1], len(ids) + 100, self.consumer
        )
        counts = {p["message_id"]: p["times_delivered"] for p in pending}
        kept = []
        for entry_id, fields in entries:
            times = counts.get(entry_id, 0)
            if times > self.config.max_deliveries:
                self.dead_letter(
                    stream,
                    entry_id,
                    fields,
                    "too-many-deliveries",
                    f"delivered {times} times without being acknowledged (consumers crashed "
                    f"or hung on it); max_deliveries is {self.config.max_deliveries}",
                )
            else:
                kept.append((entry_id, fields))
        return kept

    def ack(self, stream: str, entry_id: bytes) -> None:
        """Acknowledge the entry with the next flush."""
        self._acks[stream].append(entry_id)

    def dead_letter(
        self,
        stream: str,
        entry_id: bytes,
        fields: dict[bytes, bytes] | None,
        reason: str,
        error: str,
        **extra: str,
    ) -> None:
        """Move the entry to ``{stream}:dead`` with the reason, and acknowledge it."""
        record: dict[str | bytes, Any] = {
            "reason": reason,
            "error": error[:_KEEP_BYTES],
            "stream": stream,
            "entry_id": entry_id,
            "group": self.group,
            "consumer": self.consumer,
            "at": time.time(),
        }
        record.update(extra)
        for key, value in list((fields or {}).items())[:_KEEP_FIELDS]:
            record[b"orig." + _bytes(key)[:200]] = _bytes(value)[:_KEEP_BYTES]
        self._dead.append((stream, record))
        self.ack(stream, entry_id)
        logger.warning("dead-lettered %s %s: %s", stream, text(entry_id), error[:300])

    async def flush(self, read: bool = False) -> Any:
        """Write dead letters, then acknowledgements (and subclass extras), in one pipeline.

        With ``read``, the pipeline ends with the XREADGROUP of the next batch, whose
        reply is returned.
        """
        writes = bool(self._acks or self._dead or self.has_extra())
        if not (read or writes):
            return None
        dead, self._dead = self._dead, []
        acks, self._acks = self._acks, defaultdict(list)
        pipe = self._connect().pipeline(transaction=False)
        for stream, record in dead:
            pipe.xadd(f"{stream}:dead", record, maxlen=self.config.maxlen or 1_000_000)
        self.extend_flush(pipe)
        for stream, ids in acks.items():
            pipe.xack(stream, self.group, *ids)
        if read:
            # Never block behind writes: a stop (cancellation) during the blocking read
            # would leave their outcome unknown, and writing them again duplicates the
            # dead letters. With writes, the read does not block; an empty one is
            # followed by the blocking read alone.
            self._read(pipe, block=not writes)
        try:
            # Error replies come back as values: the writes Redis did apply are not
            # written again when another command of the pipeline (say, the read of a
            # group Redis lost) fails.
            results = await pipe.execute(raise_on_error=False)
        except BaseException:
            # Nothing came back: keep them for the next flush (acking late only risks a
            # harmless redelivery; a dead letter may then be written twice, never lost).
            self._dead[:0] = dead
            for stream, ids in acks.items():
                self._acks[stream][:0] = ids
            raise
        failed = [r for r in results if isinstance(r, Exception)]
        self._dead[:0] = [
            d for d, r in zip(dead, results, strict=False) if isinstance(r, Exception)
        ]
        ack_results = results[len(results) - len(acks) - (1 if read else 0) :][: len(acks)]
        for (stream, ids), reply in zip(acks.items(), ack_results, strict=True):
            if isinstance(reply, Exception):
                self._acks[stream][:0] = ids
        if failed:
            raise failed[0]
        if not read:
            return None
        if writes and not results[-1]:
            return await self._read(self._connect(), block=True)
        return results[-1]

    def _read(self, client: Any, *, block: bool) -> Any:
        """XREADGROUP the next batch on ``client`` (a pipeline or the connection)."""
        return client.xreadgroup(
            self.group,
            self.consumer,
            dict.fromkeys(self.streams, ">"),
            count=self.config.batch,
            block=self.config.block_ms if block else None,
        )

    def has_extra(self) -> bool:
        """Whether :meth:`extend_flush` has something to write (subclasses)."""
        return False

    def spawn(self, key: tuple[str, bytes], coro: Any) -> None:
        """Run ``coro`` as a task that holds entry ``key`` until it finishes."""
        self._in_flight.add(key)
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            self._in_flight.discard(key)
            if not t.cancelled() and t.exception() is not None:
                logger.error("%r: task for %s failed", self, key, exc_info=t.exception())

        task.add_done_callback(done)


def _id_order(entry_id: bytes) -> tuple[int, ...]:
    return tuple(int(part) for part in entry_id.split(b"-"))


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def dumps(value: Any) -> str:
    """Compact JSON for the small records this plugin writes."""
    return json.dumps(value, separators=(",", ":"), default=str)
