"""Removing consumers that left a group: heartbeats, and XGROUP DELCONSUMER of the departed.

Every worker joins a group under a name of its own, so without this each restart
or crash leaves one more consumer in ``XINFO CONSUMERS`` forever. Now and then
(:meth:`GroupReader.forget_idle_consumers`) a reader records a heartbeat, then
removes the consumers of its group that

* hold no pending entries (``pending`` is 0): ``DELCONSUMER`` drops a consumer's
  pending entries from the group, so they would never be delivered again;
* have been idle (``idle`` of ``XINFO CONSUMERS``) for ``consumer_idle_ms``; and
* have no heartbeat younger than that (nor are the reader itself).

The pending check and the delete run in one Lua script, which Redis runs
atomically, so no consumer can take an entry between them: the count of pending
entries ``DELCONSUMER`` returns is always 0 (the caller checks it all the same).

Why the heartbeat: before Redis 7.2, ``idle`` counts from a consumer's last read
that *returned* entries, so a live consumer of a quiet stream looks as idle as a
dead one (7.2 made ``idle`` count from the last attempt and added ``inactive``
for the old meaning). Entries a dead consumer still holds are first reclaimed
(``XAUTOCLAIM``) by the live ones; then it has none and is removed.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from ._config import text

__all__ = ["forget_departed", "heartbeat_key"]

logger = logging.getLogger("llmgine.redis")

# Both scripts first ask for their effects to be replicated instead of the script:
# on Redis 6.2 with lua-replicate-commands no, a write after TIME or XINFO (which
# are not deterministic) fails otherwise. A no-op from Redis 7.0 on.
#
# KEYS[1] heartbeats; ARGV: this consumer, consumer_idle_ms. Records this consumer's
# heartbeat in Redis's clock (no skew between hosts), drops the ones too old to prove
# anything, and returns the names of the consumers alive. The key expires with its
# last writer.
_BEAT = """
redis.replicate_commands()
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local idle_ms = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], ms, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - idle_ms)
redis.call('PEXPIRE', KEYS[1], 2 * idle_ms)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""

# KEYS[1] stream; ARGV: group, consumer_idle_ms, names of consumers alive. Deletes the
# consumers with nothing pending, idle that long and not alive; returns name, idle and
# the pending count DELCONSUMER reported, for each. One key, so it runs on a cluster too.
# No stream or no group (yet) means no one to remove; any other error of XINFO (an ACL
# that denies it, a key of another type) goes to the caller, which logs it.
_FORGET = """
redis.replicate_commands()
local consumers = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if consumers['err'] then
    local err = consumers['err']
    if string.find(err, 'no such key', 1, true) or string.find(err, 'NOGROUP', 1, true) then
        return {}
    end
    return redis.error_reply(err .. ' (XINFO CONSUMERS)')
end
local idle_ms = tonumber(ARGV[2])
local alive = {}
for i = 3, #ARGV do
    alive[ARGV[i]] = true
end
local removed = {}
for _, consumer in ipairs(consumers) do
    local info = {}
    for i = 1, #consumer, 2 do
        info[consumer[i]] = consumer[i + 1]
    end
    local name = info['name']
    if info['pending'] == 0 and info['idle'] >= idle_ms and not alive[name] then
        local had = redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
        removed[#removed + 1] = name
        removed[#removed + 1] = info['idle']
        removed[#removed + 1] = had
    end
end
return removed
"""


def heartbeat_key(stream: str, group: str) -> str:
    """The sorted set of the consumers of ``group`` on ``stream`` alive: name -> time (ms)."""
    return f"{stream}:consumers:{group}"


async def forget_idle(
    client: Any, stream: str, group: str, me: str, idle_ms: int, remove: bool = True
) -> list[tuple[Any, int, int]]:
    """Beat for ``me``, then remove departed consumers; return (name, idle ms, pending) of each.

    ``pending`` is what ``XGROUP DELCONSUMER`` reported: 0 unless Redis did not run
    the script atomically. Without ``remove``, only the heartbeat is recorded.
    """
    alive = await client.eval(_BEAT, 1, heartbeat_key(stream, group), me, idle_ms)
    if not remove:
        return []
    reply = await client.eval(_FORGET, 1, stream, group, idle_ms, me, *alive)
    return [(reply[i], int(reply[i + 1]), int(reply[i + 2])) for i in range(0, len(reply), 3)]


async def forget_departed(
    client: Any,
    streams: list[str],
    group: str,
    me: str,
    idle_ms: int,
    who: str,
    remove: bool = True,
) -> tuple[list[str], bool]:
    """:func:`forget_idle` on each stream, logged; return the names removed and whether to go on.

    Going on is refused only if a delete reported pending entries (see :func:`forget_idle`).
    """
    names: list[str] = []
    safe = True
    for stream in streams:
        try:
            removed = await forget_idle(client, stream, group, me, idle_ms, remove and safe)
        except (redis.OutOfMemoryError, redis.ReadOnlyError):
            raise  # an outage, which the reader rides out, not a missing permission
        except redis.ResponseError as exc:  # e.g. an ACL without XINFO: reading goes on
            logger.warning(
                "%s: could not remove departed consumers on %s: %s (the user needs EVAL, and "
                "in the scripts TIME, ZADD, ZREMRANGEBYSCORE, PEXPIRE, ZRANGE, XINFO and "
                "XGROUP; or set consumer_idle_ms=None not to try)",
                who,
                stream,
                exc,
            )
            continue
        for raw_name, idle, pending in removed:
            name = text(raw_name)
            names.append(name)
            logger.info(
                "%s: removed consumer %r from %s: no pending entries, idle %d ms",
                who,
                name,
                stream,
                idle,
            )
            if pending:
                # Cannot happen (the check and the delete are one script) unless something
                # ran between them: stop deleting rather than risk more.
                safe = False
                logger.error(
                    "%s: removing consumer %r from %s dropped %d pending entries of group %r, "
                    "which will not be delivered again; this reader removes no more consumers",
                    who,
                    name,
                    stream,
                    pending,
                    group,
                )
    return names, safe
