"""What the server under test holds: dead letters, and entries not read or not acknowledged."""

from __future__ import annotations

import re
from typing import Any

import redis
from redis_fault_worker import PREFIX

_KEY = re.compile(rb'"(resource_id|key|probe)":\s*"([^"]+)"')


def key_of(raw: bytes) -> str | None:
    """The key of an entry's ``m`` (which may be cut off, as in a dead letter, or not be JSON)."""
    if raw.startswith(b"poison:"):
        return raw[7:].decode()
    match = _KEY.search(raw)
    if match is None:
        return None
    key = match.group(2).decode()
    return "cmd:" + key if match.group(1) == b"probe" else key


def dead_letters(client: Any) -> dict[str, str]:
    """key (else entry id) -> reason of every dead letter of the script's streams."""
    found: dict[str, str] = {}
    for stream in client.scan_iter(f"{PREFIX}:*:dead"):
        for entry_id, fields in client.xrange(stream):
            key = key_of(fields.get(b"orig.m", b"")) or entry_id.decode()
            found[key] = fields.get(b"reason", b"?").decode()
    return found


def unfinished(client: Any) -> int:
    """Entries not yet read or not acknowledged, by every group of the script's streams.

    -1 if that cannot be told (Redis does not answer, or cannot count a group's lag).
    """
    total = 0
    try:
        for stream in client.scan_iter(f"{PREFIX}:*", _type="stream"):
            for group in client.xinfo_groups(stream):
                if group["lag"] is None:
                    return -1
                total += int(group["pending"]) + int(group["lag"])
    except redis.RedisError:
        return -1
    return total
