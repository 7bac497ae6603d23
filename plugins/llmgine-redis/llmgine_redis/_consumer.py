"""Events in: run the local subscribers for events read from the stream by a consumer group.

For each batch: decode (undecodable entries go to the dead-letter stream with the
reason), skip event ids the group already processed (``ZMSCORE`` on the group's
dedup set, plus a local window), deliver the rest with ``bus.deliver`` (which
never sends them back to Redis), and acknowledge the ones whose subscribers all
succeeded, recording their ids in the dedup set in the same pipeline.

The dedup records are written in the transaction that acknowledges (see
:mod:`._writes`), with scores in Redis's clock (``TIME`` in a script), so no
worker's clock trims the others' records; if Redis refuses them they are kept,
with their acks, for the next flush.

A failed subscriber is retried alone (``only=`` its name), up to ``max_attempts``
deliveries with exponential backoff, while the consumer goes on with other
entries; then the event is dead-lettered with the errors. Which subscribers
failed is kept in memory: if the consumer dies meanwhile, the entry is reclaimed
by another consumer and delivered to every subscriber again (at least once).
Background subscribers count too: ``deliver`` returns once they handled the event
(a drop from a full queue is a failure), unless they subscribed ``at_most_once``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from llmgine.messages.bus import MessageBus
from llmgine.messages.events import Event

from ._config import RedisConfig
from ._outbox import attach_trace, forget_oldest, mark_received
from ._reader import GroupReader
from ._wire import decode
from ._writes import Settle, dumps
from .errors import WireError

__all__ = ["EventConsumer"]

_Entry = tuple[bytes, dict[bytes, bytes]]

# KEYS[1] the dedup set; ARGV: dedup_window (s), dedup_max, event ids. Records the ids
# with Redis's time (whole seconds) and trims what is older than the window or beyond
# the cap. ZADD in slices: Lua's unpack takes a few thousand values at most. TIME
# first asks for effects replication (needed on Redis 6.2, a no-op from 7.0).
_RECORD_SEEN = """
redis.replicate_commands()
local now = tonumber(redis.call('TIME')[1])
local args = {}
for i = 3, #ARGV do
    args[#args + 1] = now
    args[#args + 1] = ARGV[i]
    if #args >= 1000 or i == #ARGV then
        redis.call('ZADD', KEYS[1], unpack(args))
        args = {}
    end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[2]) - 1)
return 0
"""


class EventConsumer(GroupReader):
    """Consumer ``consumer`` of group ``group`` (one per service) on the event stream."""

    role = "event consumer"

    def __init__(
        self,
        bus: MessageBus,
        config: RedisConfig,
        group: str,
        consumer: str | None = None,
    ) -> None:
        super().__init__(config, group, [config.event_stream], consumer)
        self.bus = bus
        self.seen_key = f"{config.event_stream}:seen:{group}"
        #: events whose subscribers all succeeded (or were skipped as duplicates)
        self.processed = 0
        self.duplicates = 0
        self._done: list[str] = []
        self._seen: dict[str, None] = {}  # insertion-ordered local dedup window

    async def handle(self, stream: str, entries: list[_Entry]) -> None:
        """Decode, dedup and deliver a batch of entries."""
        decoded: list[tuple[bytes, Event, dict[bytes, bytes], Any]] = []
        limit = self.config.max_entry_bytes
        for entry_id, fields in entries:
            if not fields:  # deleted (trimmed) while pending: nothing to do
                self.ack(stream, entry_id)
                continue
            try:
                event, doc = decode(fields.get(b"m"), "event", limit)
            except WireError as exc:
                self.dead_letter(stream, entry_id, fields, exc.reason, str(exc))
                continue
            decoded.append((entry_id, event, fields, doc.get("trace")))
        if not decoded:
            return
        event_ids = [d[1].event_id for d in decoded]
        mark_received(self.bus, event_ids)
        scores = await self._connect().zmscore(self.seen_key, event_ids)
        seen = self._seen
        subscribers_for = self.bus.subscribers_for
        monotonic = time.monotonic
        held = self._held
        # What succeeded is recorded once for the batch, also if it is interrupted.
        acks: list[bytes] = []
        done: list[str] = []
        try:
            for (entry_id, event, fields, trace), score in zip(decoded, scores, strict=True):
                event_id = event.event_id
                if score is not None or event_id in seen:
                    self.duplicates += 1
                    acks.append(entry_id)
                    continue
                if monotonic() >= held.due:  # a slow batch: keep peers off the rest of it
                    await self.keep_held()
                plan = subscribers_for(event)
                if trace is None and not (plan.async_subscribers or plan.background):
                    failures = self._deliver_now(event, None)  # no coroutine: the common case
                else:
                    failures = await self._deliver(event, None, trace)
                if failures:
                    key = (stream, entry_id)
                    self.spawn(key, self._retry(stream, entry_id, event, fields, trace, failures))
                    continue
                seen[event_id] = None  # a copy later in this batch is a duplicate
                acks.append(entry_id)
                done.append(event_id)
        finally:
            if acks:
                self._writes.acks[stream].extend(acks)
            self._done.extend(done)
            self.processed += len(done)
            self._trim_seen()

    async def _deliver(
        self, event: Event, only: set[str] | None, trace: Any
    ) -> list[tuple[str, Exception]]:
        # Subscribers run in the trace context the event was published in (OpenTelemetry).
        undo = attach_trace(trace) if trace is not None else None
        try:
            plan = self.bus.subscribers_for(event)
            # Awaited also for background subscribers (at-most-once ones too): deliver
            # waits for them, and a put onto a full "wait" queue of an async one awaits
            # room; blocking would stop this loop (and the tasks of async ones run on it).
            if not (plan.async_subscribers or plan.background):
                return self._deliver_now(event, only)
            try:
                failures = await self.bus.deliver_async(event, only)
            except Exception as exc:  # the delivery itself failed (e.g. publishing)
                return [("<delivery>", exc)]
            return [(subscriber.name, exc) for subscriber, exc in failures]
        finally:
            if undo is not None:
                undo()

    def _deliver_now(self, event: Event, only: set[str] | None) -> list[tuple[str, Exception]]:
        """Deliver to plain subscribers; return (subscriber name, error) of those that failed."""
        try:
            failures = self.bus.deliver(event, only)
        except Exception as exc:  # the delivery itself failed (e.g. publishing what it queued)
            return [("<delivery>", exc)]
        return [(subscriber.name, exc) for subscriber, exc in failures] if failures else []

    async def _retry(
        self,
        stream: str,
        entry_id: bytes,
        event: Event,
        fields: dict[bytes, bytes],
        trace: Any,
        failures: list[tuple[str, Exception]],
    ) -> None:
        attempts = 1
        while attempts < self.config.max_attempts:
            await asyncio.sleep(self.config.retry_backoff * 2 ** (attempts - 1))
            attempts += 1
            names = {name for name, _ in failures}
            only = None if "<delivery>" in names else names
            failures = await self._deliver(event, only, trace)
            if not failures:
                self._succeeded(stream, entry_id, event.event_id)
                return
        errors = "; ".join(f"{name}: {type(e).__name__}: {e}" for name, e in failures)
        self.dead_letter(
            stream,
            entry_id,
            fields,
            "subscribers-failed",
            errors,
            subscribers=dumps([name for name, _ in failures]),
            attempts=str(attempts),
            event_id=event.event_id,
        )

    def _succeeded(self, stream: str, entry_id: bytes, event_id: str) -> None:
        self.processed += 1
        self.ack(stream, entry_id)
        self._done.append(event_id)
        self._seen[event_id] = None
        self._trim_seen()

    def _trim_seen(self) -> None:
        forget_oldest(self._seen, self.config.dedup_max)

    def has_extra(self) -> bool:
        """Whether processed ids wait to be recorded in the dedup set."""
        return bool(self._done)

    def extend_flush(self, pipe: Any) -> Settle | None:
        """Record processed event ids in the group's dedup set and trim it (Redis's clock).

        The ids stay pending here until Redis applied the write.
        """
        if not self._done:
            return None
        done, self._done = self._done, []
        config = self.config
        pipe.eval(_RECORD_SEEN, 1, self.seen_key, config.dedup_window, config.dedup_max, *done)

        def settle(applied: bool) -> None:
            if not applied:
                self._done[:0] = done

        return settle
