#!/usr/bin/env python3
"""Memory rows of issue 18, measured in a fresh process (the runner starts one).

* bytes per subscription, per open session (with no subscriptions of its own) and per
  queued background event: ``tracemalloc``'s traced bytes after making ``N`` of them,
  minus before, divided by ``N`` (the objects stay referenced while measured);
* RSS over ``--events`` events (default 1,000,000): half through ``dispatch`` (a
  handler that queues an event for 1 subscriber), half through ``emit`` to 3
  subscribers, on one bus; RSS read after a warm-up tenth and at the end. Flat means
  growth under 5% after the warm-up.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import tracemalloc
from dataclasses import dataclass
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """This process's resident set size (Linux ``/proc``; elsewhere ``ru_maxrss``)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def traced(make: Any, n: int) -> float:
    """Bytes per object that ``make(n)`` keeps alive (it returns what it made)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = make(n)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return (after - before) / n


def _types() -> Any:
    from llmgine.messages.commands import Command
    from llmgine.messages.events import Event

    @dataclass
    class Tick(Event):
        event_type = "bench.tick"
        a: int

    @dataclass
    class Ping(Command[None]):
        a: int

    return Tick, Ping


def per_subscription(n: int) -> float:
    from llmgine.messages.bus import MessageBus

    bus = MessageBus.isolated()

    def make(count: int) -> Any:
        # a distinct function each, as distinct plugins' subscribers are
        fns = [(lambda event: None) for _ in range(count)]
        return fns, [bus.subscribe_event(f"bench.kind{i % 50}", f) for i, f in enumerate(fns)]

    fns_bytes = traced(lambda count: [(lambda event: None) for _ in range(count)], n)
    return traced(make, n) - fns_bytes  # the subscription, not the function itself


def per_session(n: int) -> float:
    from llmgine.messages.bus import MessageBus

    bus = MessageBus.isolated()
    return traced(lambda count: [bus.session() for _ in range(count)], n)


def per_background_event(n: int) -> float:
    """Events queued for a background subscriber that is held (blocked) meanwhile; the
    events themselves are made before measuring."""
    from llmgine.messages.bus import MessageBus

    tick, _ = _types()
    bus = MessageBus.isolated()
    release, started = threading.Event(), threading.Event()

    def held(event: Any) -> None:
        started.set()
        release.wait()

    bus.subscribe_event(tick, held, background=True, max_pending=n + 10)
    bus.emit(tick(0))  # the worker takes this one and blocks on it
    started.wait(10)
    events = [tick(i) for i in range(n)]
    for event in events[:10]:  # (stamped by emit: stamp a few first, outside the count)
        bus.emit(event)

    def make(count: int) -> Any:
        for event in events[10 : 10 + count]:
            bus.emit(event)
        return None

    try:
        return traced(make, n - 10)
    finally:
        release.set()
        bus.drain()


def rss_over_events(total: int) -> dict[str, Any]:
    from llmgine.messages.bus import MessageBus

    tick, ping = _types()
    bus = MessageBus.isolated()
    add = bus.add_pending_event
    bus.register_command(ping, lambda command: add(tick(command.a)))
    for _ in range(3):
        bus.subscribe_event(tick, lambda event: None)
    dispatch, emit = bus.dispatch, bus.emit

    def run(count: int) -> None:
        for i in range(count // 2):
            dispatch(ping(i))
            emit(tick(i))

    warm = total // 10
    run(warm)
    gc.collect()
    after_warmup = rss_bytes()
    run(total)
    gc.collect()
    end = rss_bytes()
    return {
        "events": total + warm,
        "rss_after_warmup": after_warmup,
        "rss_end": end,
        "growth": (end - after_warmup) / after_warmup,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="objects per bytes-per row")
    parser.add_argument("--events", type=int, default=1_000_000, help="events for the RSS row")
    args = parser.parse_args(argv)
    out = {
        "python": sys.version.split()[0],
        "bytes_per_subscription": per_subscription(args.n),
        "bytes_per_session": per_session(args.n),
        "bytes_per_background_event": per_background_event(args.n),
        "rss": rss_over_events(args.events),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
