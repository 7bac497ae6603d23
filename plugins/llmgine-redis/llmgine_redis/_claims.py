"""Which consumer holds an entry: per-entry reclaim, and keeping held entries from peers.

Three Lua scripts, each one key (the stream), so Redis runs each atomically:

* :data:`_TAKE` takes over (``XAUTOCLAIM ... JUSTID``) entries another consumer
  left pending longer than ``claim_idle_ms``. ``JUSTID`` does not raise their
  delivery count: an entry the crashed consumer never reached is not counted as
  delivered again.
* :data:`_CLAIM_ONE` is run just before one reclaimed entry is handled: if this
  consumer still owns it, ``XCLAIM`` it alone, which raises its delivery count by
  one and returns its fields. So only the entry being delivered is counted, and
  an entry a poison message never let a consumer reach stays below
  ``max_deliveries``. The owner check and the claim are one script: an entry a
  live peer took meanwhile is never taken back.
* :data:`_KEEP` resets the idle time of the entries a live consumer holds (those
  of the batch it is working through, held by retry tasks, or waiting to be
  acknowledged), checking each is still its own, so that peers do not reclaim
  them while it is slow but alive. ``XCLAIM ... JUSTID`` with min-idle 0 by the
  owner changes nothing else.

Each script first asks for its effects to be replicated instead of the script:
on Redis 6.2 a write after XPENDING (not deterministic) fails otherwise. A
no-op from Redis 7.0 on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["Holdings", "claim_one", "keep", "take_idle"]

# KEYS[1] stream; ARGV: group, consumer, min idle ms, start id, count. Returns
# XAUTOCLAIM's reply (next start id, ids, and from Redis 7.0 the ids deleted).
# Through a script because redis-py drops the next start id of a JUSTID reply.
_TAKE = """
redis.replicate_commands()
return redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
                  'COUNT', ARGV[5], 'JUSTID')
"""

# KEYS[1] stream; ARGV: group, consumer, entry id. Returns false unless the entry is
# pending under this consumer; else {deliveries including this one, fields} (fields
# false if the entry was deleted from the stream: Redis 6.2; 7.0 returns no entry).
_CLAIM_ONE = """
redis.replicate_commands()
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if not p[1] or p[1][2] ~= ARGV[2] then
    return false
end
local got = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3])
local fields = false
if got[1] and got[1][2] then
    fields = got[1][2]
end
return {p[1][4] + 1, fields}
"""

# KEYS[1] stream; ARGV: group, consumer, entry ids. Resets the idle time of those of
# the ids pending under this consumer; returns how many.
_KEEP = """
redis.replicate_commands()
local mine = {}
for i = 3, #ARGV do
    if redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])[1] then
        mine[#mine + 1] = ARGV[i]
    end
end
local n = #mine
if n > 0 then
    mine[n + 1] = 'JUSTID'
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(mine))
end
return n
"""

#: ids per :data:`_KEEP` call (Lua's unpack has a limit of a few thousand values)
_KEEP_CHUNK = 1000


async def take_idle(
    client: Any, stream: str, group: str, consumer: str, min_idle_ms: int, start: Any, count: int
) -> tuple[Any, list[bytes]]:
    """Take over up to ``count`` entries idle ``min_idle_ms`` from ``start``; their counts stay.

    Returns the id to start the next call from (``0-0``: done) and the ids taken.
    """
    reply = await client.eval(_TAKE, 1, stream, group, consumer, min_idle_ms, start, count)
    return reply[0], list(reply[1])


async def claim_one(
    client: Any, stream: str, group: str, consumer: str, entry_id: bytes
) -> tuple[int, dict[bytes, bytes] | None] | None:
    """Count one more delivery of ``entry_id`` if ``consumer`` still owns it.

    Returns None if it does not (a peer took it, or it was acknowledged or
    deleted), else the delivery count including this one and the entry's fields
    (None if the entry was deleted from the stream while pending).
    """
    reply = await client.eval(_CLAIM_ONE, 1, stream, group, consumer, entry_id)
    if not reply:
        return None
    count, flat = reply
    fields = None if not flat else dict(zip(flat[::2], flat[1::2], strict=True))
    return int(count), fields


async def keep(client: Any, stream: str, group: str, consumer: str, ids: list[bytes]) -> int:
    """Reset the idle time of those of ``ids`` ``consumer`` holds; return how many it held."""
    kept = 0
    for i in range(0, len(ids), _KEEP_CHUNK):
        chunk = ids[i : i + _KEEP_CHUNK]
        kept += int(await client.eval(_KEEP, 1, stream, group, consumer, *chunk))
    return kept


class Holdings:
    """The entries consumer ``consumer`` of ``group`` holds, and keeping and reclaiming them.

    ``batch`` is the batch being handled ((stream, entries) pairs; an entry's id is
    its ``[0]``), ``in_flight`` the (stream, entry id) its tasks work on (retries,
    commands). Their idle time is reset every quarter of ``claim_idle_ms`` (at
    ``due``): peers reclaim only entries idle ``claim_idle_ms``.
    """

    def __init__(self, group: str, consumer: str, claim_idle_ms: int, page: int) -> None:
        self.group = group
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self.page = page  # entries taken per XAUTOCLAIM
        self.batch: list[tuple[str, list[Any]]] = []
        self.in_flight: set[tuple[str, bytes]] = set()
        self.every = max(claim_idle_ms / 4000, 0.001)
        self.due = 0.0
        self.stopped = False  # (see keeper)

    def ids(self, waiting: Mapping[str, list[bytes]]) -> dict[str, list[bytes]]:
        """Every id held, by stream: ``batch``, ``in_flight`` and ``waiting`` (for their ack)."""
        held: dict[str, dict[bytes, None]] = {}
        for stream, entries in self.batch:
            held.setdefault(stream, {}).update(dict.fromkeys(e[0] for e in entries))
        for stream, ids in list(waiting.items()):
            held.setdefault(stream, {}).update(dict.fromkeys(ids))
        for stream, entry_id in list(self.in_flight):
            held.setdefault(stream, {})[entry_id] = None
        return {stream: list(ids) for stream, ids in held.items() if ids}

    async def keep(self, client: Any, waiting: Mapping[str, list[bytes]]) -> int:
        """Reset the idle time of every entry held (:meth:`ids`); return how many were."""
        self.due = time.monotonic() + self.every
        kept = 0
        for stream, ids in self.ids(waiting).items():
            kept += await keep(client, stream, self.group, self.consumer, ids)
        return kept

    async def keeper(self, keep_held: Callable[[], Awaitable[int]]) -> None:
        """Task: call ``keep_held`` when due, also while the reader's handler does not poll."""
        # Ends on ``stopped``, not only on cancellation: on Python 3.11 a cancellation
        # that arrives as redis-py's asyncio.wait_for (around each command, with a socket
        # timeout) finishes is lost, and the drain waiting for this task would hang.
        self.stopped = False
        while not self.stopped:
            await asyncio.sleep(self.every)
            if time.monotonic() >= self.due and not self.stopped:
                await keep_held()

    def stop(self) -> None:
        """End the :meth:`keeper` task at its next step (cancel it too)."""
        self.stopped = True

    async def reclaim_page(
        self,
        client: Any,
        stream: str,
        start: Any,
        deliver: Callable[[bytes, int, dict[bytes, bytes] | None], Awaitable[None]],
    ) -> tuple[Any, int]:
        """Take up to ``page`` entries of ``stream`` idle ``claim_idle_ms``, from ``start``.

        Each is claimed alone (:func:`claim_one`) just before ``deliver(entry id,
        deliveries, fields)`` handles it; entries its tasks hold are left alone.
        Returns where the next page starts (``0-0``: done) and how many it delivered.
        """
        group, consumer = self.group, self.consumer
        start, ids = await take_idle(
            client, stream, group, consumer, self.claim_idle_ms, start, self.page
        )
        ids = [i for i in ids if (stream, i) not in self.in_flight]
        self.batch = [(stream, [(i,) for i in ids])]
        delivered = 0
        try:
            for entry_id in ids:
                got = await claim_one(client, stream, group, consumer, entry_id)
                if got is not None:  # else acknowledged meanwhile, or a peer took it
                    await deliver(entry_id, *got)
                    delivered += 1
        finally:
            self.batch = []
        return start, delivered
