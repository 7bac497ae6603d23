"""Reading streams as one consumer of a group: new entries, reclaimed ones, acks and dead letters.

The event consumer and the command server are both a :class:`GroupReader`. Each
poll reclaims, one at a time, entries another consumer left pending longer than
``claim_idle_ms`` (see :mod:`._claims`), writes what it owes Redis in one
transaction ending with the read of the next batch (see :mod:`._writes`), and
hands what it read to :meth:`GroupReader.handle`. While writes keep failing it
backs off and reads nothing more (see :mod:`._outage`). Every quarter of
``consumer_idle_ms`` it records that it is alive and removes the consumers that
left the group (see :mod:`._sweep`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

import redis
import redis.asyncio

from ._claims import Holdings
from ._config import RedisConfig, consumer_name, text
from ._outage import Outage
from ._sweep import forget_departed
from ._urls import safe_url
from ._writes import Settle, Writes, dead_record

__all__ = ["GroupReader"]

logger = logging.getLogger("llmgine.redis")


class GroupReader:
    """One consumer (``consumer``) of group ``group`` on ``streams``."""

    #: what the reader is, for log lines (``label``)
    role = "reader"

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
        #: how log lines name it, e.g. ``event consumer host-1-ab12cd (group 'svc')``
        self.label = f"{self.role} {self.consumer} (group {group!r})"
        self.client: Any = None
        self._stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()
        #: entries it works on, kept from peers by the _keeper task (and handlers)
        self._held = Holdings(group, self.consumer, config.claim_idle_ms, config.batch)
        self._writes = Writes()
        self._outage = Outage(self.label, safe_url(config.url))
        self._doing = "reading"  # what the current attempt does, for the outage warning
        self._last_claim = 0.0
        self._last_forget = 0.0
        self._forgetting = config.consumer_idle_ms is not None
        self._due = 0.0  # when poll() next reclaims or forgets
        self._keeper: asyncio.Task[None] | None = None
        self.consumers_removed = 0  # departed consumers this reader removed from the group
        self.dead_lettered = 0  # entries this reader moved to a dead-letter stream

    def __repr__(self) -> str:
        return f"<{type(self).__name__} group={self.group!r} consumer={self.consumer!r}>"

    async def handle(self, stream: str, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Process entries read from ``stream`` (subclasses)."""
        raise NotImplementedError

    def extend_flush(self, pipe: Any) -> Settle | None:
        """Add commands to the transaction that acknowledges (subclasses).

        Returns None, or a function that :meth:`flush` calls with whether Redis
        applied them, so that what was not applied is kept for the next flush.
        """
        return None

    def has_extra(self) -> bool:
        """Whether :meth:`extend_flush` has something to write (subclasses)."""
        return False

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
            # Looked up first: Redis out of memory refuses XGROUP CREATE even of a group
            # that exists, and a worker restarted then could not start.
            try:
                groups = await client.xinfo_groups(stream)
            except redis.ResponseError:  # no such stream (yet)
                groups = []
            if any(text(g["name"]) == self.group for g in groups):
                continue
            try:
                await client.xgroup_create(stream, self.group, id=start_id, mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def stop(self) -> None:
        """Stop reading after the current poll; :meth:`run` then drains and returns."""
        self._stopping = True
        self._outage.stop()

    async def run(self, start_id: str = "$") -> None:
        """Create the groups, poll until :meth:`stop`, riding out Redis failures, then drain.

        Any Redis error but a configuration error, or Redis unreachable at the start
        (see :meth:`._outage.Outage.failed`), is waited out with backoff: one warning
        per outage, one line when it ends.
        A group Redis lost (``NOGROUP``: it restarted empty, or someone deleted the
        group) is created again at ``"0"``, so that what was appended meanwhile is
        delivered; the dedup set skips what it remembers.
        """
        created = lost = False
        try:
            while not self._stopping:
                try:
                    if not created:
                        self._doing = "creating the consumer group"
                        await self.ensure_groups(start_id)
                        created = True
                    if lost:
                        self._doing = "creating the lost consumer group again"
                        await self.ensure_groups("0")
                        lost = False
                    await self.poll()
                except redis.RedisError as exc:
                    if created and "NOGROUP" in str(exc):
                        lost = True
                        self._outage.group_lost(exc)
                        continue
                    waiting = self._writes.waiting()
                    delay = self._outage.failed(exc, self._doing, waiting, created)
                    await self._outage.pause(delay)
                else:
                    self._outage.recovered()
        finally:
            await self.drain()

    async def drain(self) -> None:
        """Wait for work in flight, write what is pending, close the connection.

        Writes Redis refuses now are not retried: those entries stay pending under
        this consumer, and another consumer reclaims them after ``claim_idle_ms``.
        """
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        if self.client is None:
            return
        try:
            await self.flush()
        except redis.RedisError as exc:
            self._writes.abandon(self.label, exc, self.config.claim_idle_ms)
        finally:
            if self._keeper is not None:
                self._held.stop()
                self._keeper.cancel()
                await asyncio.gather(self._keeper, return_exceptions=True)
                self._keeper = None
            await self.client.aclose()
            self.client = None

    # One round ---------------------------------------------------------------------

    async def poll(self) -> int:
        """Reclaim (and forget departed consumers) if due, flush and read one batch, handle it.

        Returns how many entries it handled. After a failed flush it first writes
        what that one could not, and raises while Redis still refuses it: nothing
        more is read meanwhile.

        The acknowledgements of a batch travel with the read of the next one, in one
        transaction: the read sees Redis after they were applied.
        """
        if self._keeper is None:
            self._keeper = asyncio.ensure_future(self._held.keeper(self.keep_held))
        if self._writes.failed:
            self._doing = "writing acknowledgements, dead letters and dedup records"
            await self.flush()
        count = 0
        now = time.monotonic()
        if now >= self._due:
            count += await self._housekeeping(now)
        self._doing = "writing acknowledgements and reading the next batch"
        reply = await self.flush(read=True)
        if isinstance(reply, dict):  # RESP3 (protocol=3 in the URL): {stream: [[entries]]}
            reply = [(k, v[0] if v and isinstance(v[0], list) else v) for k, v in reply.items()]
        if not reply:
            return count
        self._held.batch = batches = [(text(stream), entries) for stream, entries in reply]
        try:
            for stream, entries in batches:
                count += len(entries)
                await self.handle(stream, entries)
        finally:
            self._held.batch = []
        return count

    async def _housekeeping(self, now: float) -> int:
        """Reclaim, then forget departed consumers, each when due; return how many reclaimed."""
        count = 0
        claim_every = max(self.config.claim_idle_ms / 2000, 0.05)
        if now - self._last_claim >= claim_every:
            self._last_claim = now
            self._doing = "reclaiming entries of departed consumers"
            count = await self.reclaim()
        due = self._last_claim + claim_every
        idle_ms = self.config.consumer_idle_ms
        if idle_ms is not None:
            # Four heartbeats per consumer_idle_ms: a live reader is never taken for gone.
            # (Also once it stopped removing consumers: others still may.)
            forget_every = max(idle_ms / 4000, 0.05)
            if now - self._last_forget >= forget_every:
                # Only once done: refused (out of memory), it is tried again at each poll
                # before anything is read, and the outage is not taken for over.
                self._doing = "recording the heartbeat"
                await self.forget_idle_consumers()
                self._last_forget = now
            due = min(due, self._last_forget + forget_every)
        self._due = due
        return count

    async def forget_idle_consumers(self) -> list[str]:
        """Remove consumers of the group that left it; return their names.

        Records this consumer's heartbeat, then, on each stream, deletes (``XGROUP
        DELCONSUMER``) every other consumer that holds no pending entries, has been idle
        for ``consumer_idle_ms`` and has no recent heartbeat. :meth:`poll` calls it every
        quarter of ``consumer_idle_ms``. After a delete reported pending entries (see
        :mod:`._sweep`) it only records the heartbeat.
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
            self.label,
            remove=self._forgetting,
        )
        self._forgetting = self._forgetting and safe
        self.consumers_removed += len(names)
        return names

    async def reclaim(self) -> int:
        """Take over entries other consumers left pending too long, deliver each; return how many.

        The entries are taken without counting a delivery (see :mod:`._claims`),
        then each is claimed alone just before it is handled, which counts one, and
        acknowledged before the next: a poison entry that kills consumers reaches
        ``max_deliveries`` and is dead-lettered, while the entries around it are
        delivered (those before it once more per crash that interrupted their batch
        before its acknowledgements were written; those after it never in vain).
        """
        total = 0
        for stream in self.streams:
            start: Any = "0-0"
            while not self._stopping:
                redeliver = functools.partial(self._redeliver, stream)
                start, count = await self._held.reclaim_page(
                    self._connect(), stream, start, redeliver
                )
                total += count
                if start in (b"0-0", "0-0"):
                    break
        return total

    async def _redeliver(
        self, stream: str, entry_id: bytes, times: int, fields: dict[bytes, bytes] | None
    ) -> None:
        """Deliver one reclaimed entry (``times`` deliveries), or dead-letter it; write its ack."""
        if fields is None:  # deleted (trimmed) while pending: nothing to do
            self.ack(stream, entry_id)
        elif times > self.config.max_deliveries:
            # An entry whose handling kills the process would otherwise be reclaimed
            # and kill the next consumer too, forever.
            self.dead_letter(
                stream,
                entry_id,
                fields,
                "too-many-deliveries",
                f"delivered {times} times without being acknowledged (consumers crashed "
                f"or hung on it); max_deliveries is {self.config.max_deliveries}",
            )
        else:
            await self.handle(stream, [(entry_id, fields)])
        # Before the next: a crash on that one does not deliver this one again.
        await self.flush()

    async def keep_held(self) -> int:
        """Reset the idle time of the entries this reader holds; return how many.

        Held: those of the batch it is handling, those its tasks work on (retries,
        commands) and those waiting to be acknowledged. Peers reclaim only entries
        idle ``claim_idle_ms``, so a live but slow reader keeps its own. Called every
        quarter of ``claim_idle_ms`` by a task, and by handlers between entries
        (a plain subscriber never lets the task run). Errors are logged at debug
        level: the reading loop reports outages.
        """
        try:
            return await self._held.keep(self._connect(), self._writes.acks)
        except redis.RedisError as exc:
            logger.debug("%s: could not keep its entries from peers: %s", self.label, exc)
            return 0

    def ack(self, stream: str, entry_id: bytes) -> None:
        """Acknowledge the entry with the next flush."""
        self._writes.acks[stream].append(entry_id)

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
        record = dead_record(
            stream, entry_id, fields, reason, error, self.group, self.consumer, extra
        )
        self._writes.dead.append((stream, record))
        self.ack(stream, entry_id)
        self.dead_lettered += 1
        logger.warning("dead-lettered %s %s: %s", stream, text(entry_id), error[:300])

    async def flush(self, read: bool = False) -> Any:
        """Write dead letters, subclass extras and acks in one transaction (``MULTI``/``EXEC``).

        With ``read``, the transaction ends with a non-blocking read of the next
        batch, whose reply is returned (a blocking read follows if it was empty).
        If Redis refuses the transaction (e.g. out of memory), nothing of it is
        applied: everything is kept for the next flush, and the error raised.
        """
        if not (self._writes or self.has_extra()):
            return await self._read(self._connect(), block=True) if read else None
        pipe = self._connect().pipeline(transaction=True)
        # Never block behind writes (nor can a read block inside MULTI): a stop
        # (cancellation) during the blocking read would leave their outcome unknown,
        # and writing them again duplicates the dead letters.
        reply = await self._writes.write(
            pipe,
            self.group,
            self.config.maxlen or 1_000_000,
            self.extend_flush,
            (lambda p: self._read(p, block=False)) if read else None,
        )
        if not read:
            return None
        return reply or await self._read(self._connect(), block=True)

    def _read(self, client: Any, *, block: bool) -> Any:
        """XREADGROUP the next batch on ``client`` (a pipeline or the connection)."""
        return client.xreadgroup(
            self.group,
            self.consumer,
            dict.fromkeys(self.streams, ">"),
            count=self.config.batch,
            block=self.config.block_ms if block else None,
        )

    def spawn(self, key: tuple[str, bytes], coro: Any) -> None:
        """Run ``coro`` as a task that holds entry ``key`` until it finishes."""
        self._held.in_flight.add(key)
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            self._held.in_flight.discard(key)
            if not t.cancelled() and t.exception() is not None:
                logger.error("%s: task for %s failed", self.label, key, exc_info=t.exception())

        task.add_done_callback(done)
