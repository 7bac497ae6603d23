"""What the runner measures, part 3: sessions, background subscribers and waiting.

The session rows answer issue 16's question: does an event of one session cost more
when many sessions are open? Each session has 3 subscribers of its own; the event is
emitted in one of them. The background row is what the *publisher* pays (the work
runs in the subscriber's own thread); the waiting row is a whole ``expect`` /
publish / ``await`` round trip.
"""

from __future__ import annotations

import asyncio
import collections
import queue
from collections.abc import Callable
from typing import Any

from cases import Case, Target, sync_fns
from llmgine_cases import bench_bus, bench_types

__all__ = ["SESSIONS"]

Env = dict[str, Any]


def _floor_env() -> Env:
    loop_future = asyncio.Future  # (made inside the loop by the statement)
    return {
        "fns3": sync_fns(3),
        "msg": object(),
        "dq": collections.deque(maxlen=1000),
        "sq": queue.SimpleQueue(),
        "Future": loop_future,
    }


def _in_sessions(open_sessions: int, own: bool = True) -> Callable[[], Env]:
    """A bus with ``open_sessions`` open sessions, each with 3 subscribers of its own;
    the event is emitted in the last one (``own=False``: 3 bus-wide subscribers, no
    session)."""

    def setup() -> Env:
        _, _, tick, _, _, _ = bench_types()
        bus = bench_bus()
        if not own:
            for fn in sync_fns(3):
                bus.subscribe_event("bench.tick.fast", fn)
            return {"target": bus, "ev": tick(1, 2, 3)}
        session = None
        for _ in range(open_sessions):
            session = bus.session()
            for fn in sync_fns(3):
                session.subscribe_event("bench.tick.fast", fn)
        return {"target": session, "ev": tick(1, 2, 3), "bus": bus}

    return setup


def _background() -> Env:
    _, _, tick, _, _, _ = bench_types()
    bus = bench_bus()
    # Room for every event of a run (its thread drains them meanwhile): the row is what a
    # put costs the publisher, not waiting for room or dropping.
    bus.subscribe_event("bench.tick.fast", sync_fns(1)[0], background=True, max_pending=10_000_000)
    return {"bus": bus, "ev": tick(1, 2, 3)}


def _waiting() -> Env:
    _, _, tick, _, _, _ = bench_types()
    bus = bench_bus()
    return {"bus": bus, "ev": tick(1, 2, 3)}


SESSIONS = [
    Case("loop3", "floor", "loop calling 3 functions", "for f in fns3: f(msg)", _floor_env),
    Case(
        "deque_put", "floor", "deque.append (a bounded queue's put)", "dq.append(msg)", _floor_env
    ),
    Case(
        "future_round_trip",
        "floor",
        "new Future, set_result, await it",
        "f = Future()\nf.set_result(msg)\nawait f",
        _floor_env,
        True,
    ),
    Case(
        "simplequeue_put",
        "peer",
        "queue.SimpleQueue.put (a hand-made thread hand-off)",
        "sq.put(msg)\nsq.get()",
        _floor_env,
    ),
    Case(
        "emit_3",
        "llmgine",
        "emit to 3 bus-wide subscribers, no session",
        "target.emit(ev)",
        _in_sessions(0, own=False),
        floor="loop3",
    ),
    Case(
        "emit_session_1",
        "llmgine",
        "session.emit to its 3 subscribers, 1 session open",
        "target.emit(ev)",
        _in_sessions(1),
        floor="loop3",
        targets=(Target("emit_3", 1.5),),
    ),
    Case(
        "emit_session_10000",
        "llmgine",
        "session.emit to its 3 subscribers, 10,000 sessions open (3 each)",
        "target.emit(ev)",
        _in_sessions(10_000),
        floor="loop3",
        targets=(Target("emit_session_1", 1.5),),
    ),
    Case(
        "emit_background",
        "llmgine",
        "emit to 1 background subscriber (the publisher's cost)",
        "bus.emit(ev)",
        _background,
        floor="deque_put",
        peers=("simplequeue_put",),
    ),
    Case(
        "wait_for_round_trip",
        "llmgine",
        "expect(), emit the event, await the waiter",
        "w = bus.expect('bench.tick.fast')\nbus.emit(ev)\nawait w",
        _waiting,
        is_async=True,
        floor="future_round_trip",
    ),
]
