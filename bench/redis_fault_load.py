"""Faults of the load: poison, threads, slow subscribers, many users, dedup gaps, odd values.

Faults 2, 5, 6, 8, 10 and 11 of issue 14; each function's docstring says what it does
and what the guarantee asks of it. Sizes are the issue's, smaller with ``--quick``.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from llmgine.messages.events import Event, ResourceDeletedEvent
from redis_fault_inspect import key_of
from redis_fault_kit import Scene, case
from redis_fault_report import counts
from redis_fault_worker import COMMANDS, GROUP, STREAM, Measured, Probe, measured_value


def ready(scene: Scene, client: Any, *keys: str) -> None:
    """Wait until the workers created their groups (and with them the streams)."""
    scene.wait(lambda: client.exists(*keys) == len(keys), 20)


def run_threads(scene: Scene, count: int, target: Callable[[int], None], timeout: float) -> None:
    """Run ``target(i)`` in ``count`` threads started together; note those that hang."""
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        barrier.wait()
        target(i)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    hung = sum(thread.is_alive() for thread in threads)
    if hung:
        scene.problems.append(f"{hung} of {count} publishing threads hung (> {timeout:.0f}s)")


def emitted(scene: Scene, key: str, error: BaseException | None) -> None:
    """Count one event's emit: accepted, or raised ``error``."""
    if error is None:
        scene.accepted.add(key)
    else:
        scene.failed(error)


def wrong_errors(scene: Scene) -> None:
    """Errors other than the transport's own (``TransportError`` and its subclasses,
    ``RemoteCommandTimeout``) break its contract."""
    own = ("Transport", "RemoteCommand")
    wrong = {n: k for n, k in scene.errors.items() if not any(o in n for o in own)}
    for name, n in wrong.items():
        scene.problems.append(f"{n} publishes raised {name} instead of TransportError")


@case(2, "A poison message that kills its worker", 150, 60)
def poison_kills(scene: Scene) -> None:
    """200 events are published, the 14th of which kills the worker process that runs
    its subscriber; the worker (``claim_idle_ms=500``) is restarted each time it dies.

    Guarantee: the poison alone is dead-lettered (``too-many-deliveries``); every other
    event is delivered (lost 0); the events a dead worker had handled but not
    acknowledged may run again (duplicates allowed: at least once, after a crash).
    """
    count, at = scene.pick((200, 13), (60, 5))
    server = scene.server()
    bus = scene.publisher(server.url)
    keys = [f"e{i}" for i in range(count)]
    scene.publish(bus, keys[:at])
    scene.publish(bus, [keys[at]], "crash")
    scene.publish(bus, keys[at + 1 :])
    scene.expected_dead = {keys[at]}
    scene.dups_allowed = True
    scene.phase("a worker reads the batch with the poison in it")
    scene.workers(1, server.url, claim_idle_ms=500, max_deliveries=scene.pick(10, 3))
    scene.wait(lambda: bool(scene.deaths()), 20)
    scene.fault_end = scene.deaths()[0][0] if scene.deaths() else None
    scene.phase("workers die and are restarted")
    scene.settle(scene.pick(60, 30))
    scene.note_deaths(allowed=True)
    before = scene.runs()
    runs = max((before.get(k, 0) for k in keys[:at]), default=0)
    scene.notes.append(f"the events before the poison ran up to {runs} times each")


@case(5, "One bus, emit_async from event loops in two threads", 90, 45)
def two_loops(scene: Scene) -> None:
    """Two threads, each with its own event loop (``asyncio.run``), emit 5,000 events
    each with ``emit_async`` on one bus, from 10 tasks per loop. Threads switch every 10 µs here
    (``sys.setswitchinterval``), as they may on a busy host, so that races show in
    seconds rather than hours.

    Guarantee: no emit hangs or raises against a healthy Redis; every event is
    delivered once (lost 0, duplicated 0).
    """
    per = scene.pick(5000, 3000)
    server = scene.server()
    client = server.client()
    scene.workers(1, server.url)
    ready(scene, client, STREAM)
    bus = scene.publisher(server.url)

    def emit_all(thread: int) -> None:
        async def emit(task: int) -> None:
            for i in range(per // 10):
                key = f"t{thread}-{task}-{i}"
                scene.sent[key] = None
                try:
                    await bus.emit_async(ResourceDeletedEvent(resource_id=key, resource_type="ok"))
                except Exception as exc:
                    emitted(scene, key, exc)
                else:
                    emitted(scene, key, None)

        async def emit_in_tasks() -> None:
            await asyncio.gather(*(emit(task) for task in range(10)))

        asyncio.run(emit_in_tasks())

    scene.phase("two threads emitting")
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        run_threads(scene, 2, emit_all, scene.pick(30, 20))
    finally:
        sys.setswitchinterval(interval)
    scene.fault_end = time.monotonic()
    scene.phase("waiting for the deliveries")
    scene.settle(scene.pick(30, 15))
    wrong_errors(scene)


@case(6, "Healthy but slow subscribers, two workers", 200, 60)
def slow_subscribers(scene: Scene) -> None:
    """Two workers (``claim_idle_ms`` 10 s, default batch of 500) share 500 events whose
    subscriber takes 0.15 s.

    Guarantee: no event runs twice while its worker is alive and well (duplicated 0),
    lost 0. ``recover`` is the time from the publish to the last delivery.
    """
    count, sleep, claim = scene.pick((500, 0.15, 10_000), (100, 0.1, 3_000))
    server = scene.server()
    client = server.client()
    scene.workers(2, server.url, claim_idle_ms=claim)
    ready(scene, client, STREAM)
    time.sleep(1)  # both workers are reading
    bus = scene.publisher(server.url)
    scene.phase("two workers handling slow events")
    scene.fault_end = time.monotonic()
    scene.publish(bus, [f"e{i}" for i in range(count)], f"slow:{sleep}")
    scene.settle(count * sleep + claim / 1000 + 30)
    scene.notes.append(f"subscribers take {sleep}s each; claim_idle_ms={claim}")


@case(8, "More than 100 concurrent users of one bus", 150, 75)
def many_users(scene: Scene) -> None:
    """150 threads emit 100 events each on one bus (15,000), then 150 remote commands
    (each taking 0.5 s) are dispatched at once from one event loop, to a worker with
    ``command_concurrency=150``.

    Guarantee: against a healthy Redis no emit or command fails (raised 0), every
    command's result reaches its caller, lost 0.
    """
    threads, per = 150, scene.pick(100, 20)
    server = scene.server()
    client = server.client()
    scene.workers(1, server.url, command_concurrency=150)
    ready(scene, client, STREAM, COMMANDS)
    bus = scene.publisher(server.url, command_timeout=scene.pick(30, 15))

    def emit_all(thread: int) -> None:
        for i in range(per):
            key = f"t{thread}-{i}"
            scene.sent[key] = None
            try:
                bus.emit(ResourceDeletedEvent(resource_id=key, resource_type="ok"))
            except Exception as exc:
                emitted(scene, key, exc)
            else:
                emitted(scene, key, None)

    scene.phase(f"{threads} threads emitting")
    run_threads(scene, threads, emit_all, scene.pick(90, 45))
    scene.fault_end = time.monotonic()
    scene.phase(f"{threads} concurrent remote commands")
    guard = scene.pick(30, 15) + 15

    async def call_all() -> list[Any]:
        calls = [bus.dispatch_async(Probe(f"c{i}", 0.5)) for i in range(threads)]
        return await asyncio.gather(
            *(asyncio.wait_for(c, guard) for c in calls), return_exceptions=True
        )

    outcomes: Counter[str] = Counter()
    for i, result in enumerate(asyncio.run(call_all())):
        key = f"cmd:c{i}"
        scene.sent[key] = None
        error = result if isinstance(result, BaseException) else None
        emitted(scene, key, error)
        outcomes["ok" if error is None else type(error).__name__] += 1
    scene.notes.append(f"remote commands: {counts(outcomes)}")
    scene.phase("waiting for the deliveries")
    scene.settle(scene.pick(40, 20))
    runs = scene.runs()
    lost_replies = sum(
        1 for i in range(threads) if f"cmd:c{i}" in runs and f"cmd:c{i}" not in scene.accepted
    )
    if lost_replies:
        scene.problems.append(f"{lost_replies} remote commands ran but their callers got no result")
    wrong_errors(scene)


@case(10, "Dedup gaps: a failed flush, a worker clock 700 s ahead", 150, 75)
def dedup_gaps(scene: Scene) -> None:
    """(a) A worker handles 500 events, Redis (AOF, nothing lost) is killed while it
    holds the consumer, so the flush that records them fails; Redis comes back 4 s
    later (the end of the fault), the worker is restarted, and the entries are appended
    again (a publisher's retry after a lost reply). (b) 500 more events are handled,
    then a worker whose clock is 700 s ahead handles one, and the 500 are appended again.

    Guarantee: a copy of an event with the same id within ``dedup_window`` is skipped
    (duplicated 0); lost 0.
    """
    count = scene.pick(500, 50)
    server = scene.server()
    client = server.client()
    seen = f"{STREAM}:seen:{GROUP}"
    bus = scene.publisher(server.url)
    keys = [f"a{i}" for i in range(count)]
    scene.publish(bus, keys[:-1])
    scene.publish(bus, keys[-1:], "stall:2")
    [first] = scene.workers(1, server.url)
    scene.phase("(a) the worker handles the batch; Redis killed before its flush")
    scene.wait(lambda: scene.flags("stalled") > 0, 30)
    server.kill()
    time.sleep(4)  # longer than the stall and the client's retries: the flush fails
    server.start()
    scene.fault_end = time.monotonic()
    client = server.client()
    scene.wait(lambda: scene.pending() == 0, 20)
    scene.notes.append(f"(a) dedup records after the failed flush: {client.zcard(seen)} of {count}")
    first.stop()
    [second] = scene.workers(1, server.url)
    append_again(client, lambda k: k.startswith("a"))
    scene.phase("(a) the copies")
    scene.settle(scene.pick(30, 15))
    scene.phase("(b) a worker whose clock is 700 s ahead")
    scene.publish(bus, [f"b{i}" for i in range(count)])
    scene.settle(scene.pick(30, 15))
    second.stop()
    before = client.zcard(seen)
    scene.workers(1, server.url, clock_skew=700)
    scene.publish(bus, ["skewed"])
    scene.wait(lambda: "skewed" in scene.runs(), 20)
    scene.wait(lambda: scene.pending() == 0, 10)
    scene.notes.append(
        f"(b) dedup set: {before} ids, {client.zcard(seen)} after the skewed worker's flush"
    )
    append_again(client, lambda k: k.startswith("b"))
    scene.settle(scene.pick(30, 15))


def append_again(client: Any, which: Callable[[str], bool]) -> None:
    """XADD again the entries of the event stream whose key ``which`` selects (same ids)."""
    for _, fields in client.xrange(STREAM):
        key = key_of(fields[b"m"])
        if key is not None and which(key):
            client.xadd(STREAM, {"m": fields[b"m"]})


@case(11, "A 2 MB event, NaN and inf fields", 90, 45)
def odd_values(scene: Scene) -> None:
    """1,000 ordinary events with float fields, then one of 2 MB, one with a NaN
    ``float`` field and one with ``inf`` in a ``float | None`` field, each emitted with
    the default settings.

    Guarantee: what the publisher accepts, a consumer with the same settings delivers
    unchanged (no dead letters, nothing altered); what it cannot carry, the publisher
    refuses (raised is fine here).
    """
    count = scene.pick(1000, 100)
    server = scene.server()
    client = server.client()
    scene.workers(1, server.url)
    ready(scene, client, STREAM)
    bus = scene.publisher(server.url)
    scene.errors_allowed = True
    values: dict[str, str] = {}
    events: list[Event] = [
        *(Measured(f"ok{i}", 1.5, None if i % 2 else 2.5) for i in range(count)),
        Measured("big", 1.0, note="x" * 2_000_000),
        Measured("nan", float("nan")),
        Measured("inf", 1.0, float("inf")),
    ]
    scene.phase("emitting")
    for event in events:
        assert isinstance(event, Measured)
        scene.sent[event.key] = None
        values[event.key] = measured_value(event)
        try:
            bus.emit(event)
        except Exception as exc:
            scene.notes.append(f"the publisher refused {event.key!r}: {type(exc).__name__}")
            emitted(scene, event.key, exc)
        else:
            emitted(scene, event.key, None)
    scene.fault_end = time.monotonic()
    scene.settle(scene.pick(30, 15))
    got = {k.decode(): v.decode() for k, v in scene.tally.hgetall("values").items()}
    for key, value in got.items():
        if values.get(key) != value:
            scene.problems.append(f"{key!r} arrived changed: sent {values.get(key)}, got {value}")
