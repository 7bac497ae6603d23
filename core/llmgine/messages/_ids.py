"""Cheap, globally unique message ids.

An id is a random per-process prefix followed by a counter. The prefix (64 random
bits) makes ids unique across processes and hosts; the counter makes them unique
within a process. ``itertools.count`` is atomic under the GIL, so threads never
share a value, and a forked child draws a fresh prefix so it never repeats its
parent's ids. This costs a fraction of ``uuid.uuid4()``.
"""

from __future__ import annotations

import itertools
import os

__all__ = ["new_id"]

# Event.__new__ and Command.__new__ inline new_id() (a call costs as much as the id):
# they read these as ``_ids.prefix``/``_ids.counter``, so a fork's reseed reaches them.
prefix = ""
counter: itertools.count[int] = itertools.count()


def _reseed() -> None:
    global prefix, counter
    prefix = os.urandom(8).hex() + "-"  # what secrets.token_hex(8) does, without its imports
    counter = itertools.count(1)


_reseed()
os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    """Return a new id, unique across threads, processes (also after ``fork()``) and hosts."""
    # (decimal: str() of an int costs less than a hex format spec, on every message)
    return prefix + str(next(counter))
