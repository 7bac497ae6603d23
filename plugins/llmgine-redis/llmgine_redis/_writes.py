"""What a reader owes Redis: dead letters and acknowledgements, written in one transaction.

A reader collects them while it handles a batch and writes them with the read of
the next batch, in one ``MULTI``/``EXEC``: dead letters first, then what the
reader adds (the event consumer's dedup records), then the acks, then a
non-blocking ``XREADGROUP``. Redis queues every command of a transaction before
it runs any; if it refuses one (out of memory, a read-only replica, an ACL), it
runs none (``EXECABORT``), so an entry is never acknowledged while its dead
letter or dedup record was refused, and nothing more is read. What was not
applied is kept for the next attempt, never dropped.

A command Redis accepts but that fails when run (``WRONGTYPE`` on a key of another
type) does not undo the others of its transaction: its write is kept and written
again with the next flush, so a dead letter whose write failed so is kept in
memory while its entry's ack was applied.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

__all__ = ["Settle", "Writes", "dead_record", "dumps"]

#: a dead letter keeps this much of each field of the original entry
_KEEP_BYTES = 65_536
_KEEP_FIELDS = 32

logger = logging.getLogger("llmgine.redis")

#: what a reader's ``extend_flush`` returns: called with whether Redis applied its writes
Settle = Callable[[bool], None]


def dead_record(
    stream: str,
    entry_id: bytes,
    fields: dict[bytes, bytes] | None,
    reason: str,
    error: str,
    group: str,
    consumer: str,
    extra: dict[str, str],
) -> dict[str | bytes, Any]:
    """The dead letter of an entry: why, where from, and (cut) its original fields."""
    record: dict[str | bytes, Any] = {
        "reason": reason,
        "error": error[:_KEEP_BYTES],
        "stream": stream,
        "entry_id": entry_id,
        "group": group,
        "consumer": consumer,
        "at": time.time(),
    }
    record.update(extra)
    for key, value in list((fields or {}).items())[:_KEEP_FIELDS]:
        record[b"orig." + _bytes(key)[:200]] = _bytes(value)[:_KEEP_BYTES]
    return record


class Writes:
    """Dead letters and acknowledgements not yet written, and whether the last write failed."""

    def __init__(self) -> None:
        self.acks: defaultdict[str, list[bytes]] = defaultdict(list)
        self.dead: list[tuple[str, dict[str | bytes, Any]]] = []
        #: the last write was refused in part or whole: write before reading more
        self.failed = False

    def __bool__(self) -> bool:
        return bool(self.acks or self.dead)

    def waiting(self) -> int:
        """How many acknowledgements wait to be written."""
        return sum(map(len, self.acks.values()))

    def abandon(self, who: str, exc: Exception, claim_idle_ms: int) -> None:
        """Log that the writes could not be made before the reader stopped, and what follows."""
        logger.warning(
            "%s: could not write %d acknowledgements, %d dead letters (and any dedup records) "
            "before stopping "
            "(%s: %.300s); those entries stay pending under this consumer, and another "
            "consumer of the group delivers them again after claim_idle_ms (%d ms)",
            who,
            self.waiting(),
            len(self.dead),
            type(exc).__name__,
            exc,
            claim_idle_ms,
        )

    async def write(
        self,
        pipe: Any,
        group: str,
        dead_maxlen: int,
        extend: Callable[[Any], Settle | None],
        read: Callable[[Any], Any] | None,
    ) -> Any:
        """Write everything in transaction ``pipe``; return the reply of ``read(pipe)``, if given.

        ``extend(pipe)`` adds the reader's own writes. Raises the first error, after
        keeping what was not applied.
        """
        dead, self.dead = self.dead, []
        acks, self.acks = self.acks, defaultdict(list)
        for stream, record in dead:
            pipe.xadd(f"{stream}:dead", record, maxlen=dead_maxlen)
        first_extra = len(pipe)
        settle = extend(pipe)
        extra = slice(first_extra, len(pipe))
        for stream, ids in acks.items():
            pipe.xack(stream, group, *ids)
        if read is not None:
            read(pipe)
        try:
            # Errors of single commands (say, the read of a group Redis lost) come back
            # as values: what Redis did apply is not written again.
            results = await pipe.execute(raise_on_error=False)
        except BaseException:
            # Refused (EXECABORT), or nothing came back: keep all of it (acking late only
            # risks a harmless redelivery; a dead letter may be written twice, never lost).
            self._keep(dead, acks, settle, None, extra)
            raise
        self._keep(dead, acks, settle, results, extra)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results[-1] if read is not None else None

    def _keep(
        self,
        dead: list[tuple[str, dict[str | bytes, Any]]],
        acks: dict[str, list[bytes]],
        settle: Settle | None,
        results: list[Any] | None,
        extra: slice,
    ) -> None:
        """Keep for the next write those whose ``results`` are errors (None: all of them).

        ``results`` are the transaction's: the dead letters, then ``extra``, then one
        XACK per stream of ``acks``.
        """
        if results is None:
            results = [Exception()] * (extra.stop + len(acks))
        kept = [d for d, r in zip(dead, results, strict=False) if isinstance(r, Exception)]
        self.dead[:0] = kept
        applied = not any(isinstance(r, Exception) for r in results[extra])
        if settle is not None:
            settle(applied)
        failed = bool(kept) or not applied
        ack_results = results[extra.stop : extra.stop + len(acks)]
        for (stream, ids), reply in zip(acks.items(), ack_results, strict=True):
            if isinstance(reply, Exception):
                self.acks[stream][:0] = ids
                failed = True
        self.failed = failed


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def dumps(value: Any) -> str:
    """Compact JSON for the small records this plugin writes."""
    return json.dumps(value, separators=(",", ":"), default=str)
