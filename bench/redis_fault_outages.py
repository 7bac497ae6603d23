"""Faults of the Redis server and the network: out of memory, restarted empty, partitioned, paused.

Faults 1, 3, 4, 7 and 9 of issue 14; each function's docstring says what it does and
what the guarantee asks of it. Sizes are the issue's, smaller with ``--quick``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

import llmgine_redis
import redis
from redis_fault_kit import Scene, case
from redis_fault_worker import COMMANDS, PREFIX, STREAM, Burst, Republish, Slot, faultkit


def fill_memory(client: Any) -> None:
    """Set ``maxmemory`` (noeviction) a little above what Redis uses, and fill it up.

    From then on Redis refuses every write that may grow memory (XADD, ZADD, RPUSH,
    XGROUP CREATE, ...) with ``OOM``, and still runs the others (XACK, XREADGROUP).
    """
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", used + 2_000_000)
    n = 0
    while True:
        try:
            client.set(f"filler:{n}", b"x" * 100_000)
        except redis.exceptions.OutOfMemoryError:
            break
        n += 1
    # 2 MB over the limit: a client's buffers freed (say, a worker dies) do not end it.
    client.config_set("maxmemory", used)


def free_memory(client: Any) -> None:
    """Undo :func:`fill_memory`."""
    client.delete(*client.keys("filler:*"))
    client.config_set("maxmemory", 0)


def paused_while(slots: list[Slot], work: Any) -> None:
    """Run ``work()`` with the workers SIGSTOPped, so that they read its result in one batch.

    ``work`` starts once the read a worker may have left blocking in Redis has timed
    out (``block_ms`` of at most 500, checked by Redis every 100 ms or so): no entry
    of the backlog goes to it alone.
    """
    for slot in slots:
        slot.pause()
    time.sleep(0.8)
    try:
        work()
    finally:
        for slot in slots:
            slot.resume()


def check_reply(scene: Scene, outcome: str, error: str) -> None:
    """A remote command that ran must have its result reach a caller still waiting for it."""
    ran = "cmd:c0" in scene.runs()
    scene.notes.append(f"remote command: caller got {outcome}; handler ran: {ran}")
    if ran and outcome not in ("ok", "running"):
        told = error.rsplit("? ", 1)[-1].split(";")[0]  # what the caller was told, in short
        scene.problems.append(
            f"a remote command ran but its reply was lost: the caller got {outcome} ({told!r})"
        )
    if outcome in ("hung", "running"):
        scene.problems.append("a remote command neither answered nor timed out")
    elif not ran:
        scene.problems.append(f"a remote command never ran (its caller got {outcome})")


@case(1, "Redis out of memory (maxmemory)", 150, 75)
def out_of_memory(scene: Scene) -> None:
    """200 poison entries, 300 events whose subscriber always fails and a remote command
    are queued while the workers are paused; Redis is filled to ``maxmemory``; the workers
    go on; the memory is freed 5 s later (the end of the fault).

    Guarantee: nothing is acknowledged without its dead letter (lost 0); the command's
    reply reaches its caller (``command_timeout`` 20 s), or the command runs again.
    The workers read with ``block_ms=1``, so that a paused one reads the backlog in one
    batch; a worker that dies is restarted (fault 7 is about the dying).
    """
    poison, failing = (50, 60) if scene.quick else (200, 300)
    server = scene.server()
    client = server.client()
    # Events and commands are read by two worker processes: a command's reply is then
    # not at the mercy of the other reader's failures.
    settings: dict[str, Any] = {"block_ms": 1, "claim_idle_ms": 2000, "retry_backoff": 0.05}
    workers = scene.workers(1, server.url, commands=False, max_attempts=2, **settings)
    workers += scene.workers(1, server.url, group="commands", stream=f"{PREFIX}:idle", **settings)
    scene.wait(lambda: client.exists(STREAM, COMMANDS) == 2, 20)
    bus = scene.publisher(server.url, command_timeout=scene.pick(20, 12))
    scene.errors_allowed = True  # the caller's error, if any, is judged by check_reply
    holder: list[Any] = []

    def backlog() -> None:
        scene.phase("queueing poison, failing events and a remote command")
        for i in range(poison):
            scene.sent[f"p{i}"] = None
            client.xadd(STREAM, {"m": f"poison:p{i}"})
            scene.accepted.add(f"p{i}")
        keys = [f"f{i}" for i in range(failing)]
        for start in range(0, failing, 100):
            scene.publish(bus, keys[start : start + 100], "fail")
        holder.append(scene.call(bus, "c0", guard=60))
        scene.wait(lambda: client.xlen(COMMANDS) >= 1, 10)
        scene.expected_dead = {f"p{i}" for i in range(poison)} | set(keys)
        scene.phase("filling Redis to maxmemory")
        fill_memory(client)

    paused_while(workers, backlog)
    scene.phase("out of memory: the workers go on")
    time.sleep(scene.pick(5, 3))
    free_memory(client)
    scene.fault_end = time.monotonic()
    scene.phase("memory freed: waiting for the command's caller and the dead letters")
    call = holder[0]
    outcome = call.join(30)
    scene.settle(scene.pick(40, 10))
    check_reply(scene, outcome, call.error)
    scene.note_deaths(allowed=True)


@case(3, "Redis restarted empty", 90, 45)
def restarted_empty(scene: Scene) -> None:
    """A worker (start ``$``, as ``llmgine worker``) consumes; Redis (no persistence) is
    killed and restarted empty (the end of the fault); 1,000 events are emitted right
    after, one ``emit`` each, and a remote command is dispatched.

    Guarantee: what Redis acknowledged after the restart is delivered (lost 0); the
    command is answered. (What Redis lost in the restart is beyond any promise: the
    case waits for the events before it to be delivered.)
    """
    count = 300 if scene.quick else 1000
    server = scene.server(persist=False)
    client = server.client()
    scene.workers(1, server.url, start="$", claim_idle_ms=2000)
    scene.wait(lambda: client.exists(STREAM, COMMANDS) == 2, 20)
    bus = scene.publisher(server.url, command_timeout=scene.pick(15, 8))
    scene.phase("events before the restart")
    scene.publish(bus, [f"before{i}" for i in range(100)])
    scene.wait(lambda: len(scene.runs()) >= 100, 20)
    scene.phase("killing Redis and restarting it empty")
    server.kill()
    server.start()
    scene.fault_end = time.monotonic()
    scene.errors_allowed = True  # an emit during the restart may fail, and say so
    for i in range(count):
        scene.publish(bus, [f"after{i}"])
    call = scene.call(bus, "c0", guard=60)
    scene.phase("waiting for the events emitted after the restart")
    scene.settle(scene.pick(30, 8))
    outcome = call.join(30)
    check_reply(scene, outcome, call.error)
    scene.note_deaths(allowed=False)


@case(4, "Partition without RST (half-open connections)", 120, 60)
def partition(scene: Scene) -> None:
    """A worker and a caller reach Redis through a proxy that stops forwarding (no FIN,
    no RST): 10 events are published (directly) after the partition, and the caller
    dispatches a remote command with ``command_timeout=3``. The partition heals after
    10 s (the end of the fault); old connections stay dead, new ones work.

    Guarantee: the command raises within about its timeout; once healed, the worker
    reconnects and delivers the events (lost 0 within 40 s).
    """
    server = scene.server()
    proxy = scene.proxy(server.port)
    scene.workers(1, proxy.url())
    client = server.client()
    scene.wait(lambda: client.exists(STREAM, COMMANDS) == 2, 20)
    publisher = scene.publisher(server.url)
    caller = scene.publisher(proxy.url(), command_timeout=3)
    scene.phase("before the partition")
    scene.publish(publisher, [f"before{i}" for i in range(10)])
    before = scene.call(caller, "warm-up", guard=20).join(25)
    scene.wait(lambda: len(scene.runs()) >= 11, 20)
    scene.phase("partitioned")
    proxy.partition()
    scene.publish(publisher, [f"after{i}" for i in range(10)])
    # The guarantee is command_timeout + socket_timeout (3 + 10 s); a guard of exactly that
    # (as --quick had) races the answer and called it hung.
    guard = 3 + 10 + scene.pick(10, 5)
    call = scene.call(caller, "c0", guard=guard)
    time.sleep(scene.pick(10, 5))
    proxy.heal()
    scene.fault_end = time.monotonic()
    scene.phase("healed: waiting for the worker to reconnect and deliver")
    # (a reader's reconnect takes about 20 s: --quick's 15 s declared events lost that came)
    scene.settle(scene.pick(40, 30))
    outcome = call.join(guard)
    scene.errors_allowed = True  # the command may fail during the partition, and say so
    scene.notes.append(f"command before the partition: {before}")
    scene.notes.append(f"command during the partition: {outcome} after {call.took:.1f}s")
    if outcome in ("hung", "running"):
        scene.problems.append(f"a remote command with command_timeout=3 hung for {guard} s")
    scene.note_deaths(allowed=False)


@case(7, "Redis out of memory on the consumer's writes", 120, 60)
def consumer_out_of_memory(scene: Scene) -> None:
    """500 events are published while the worker is paused; Redis is filled to
    ``maxmemory``; the worker goes on (and is restarted if it dies); the memory is freed
    5 s later (the end of the fault). Then ``llmgine worker --url`` an unreachable URL.

    Guarantee: the worker rides out OOM (no exits) and delivers everything once memory
    is back (lost 0, duplicates 0); against an unreachable URL it exits with a one-line
    error.
    """
    count = 150 if scene.quick else 500
    server = scene.server()
    client = server.client()
    workers = scene.workers(1, server.url, claim_idle_ms=2000)
    scene.wait(lambda: client.exists(STREAM) == 1, 20)
    bus = scene.publisher(server.url)

    def backlog() -> None:
        scene.phase("publishing while the worker is paused, then filling Redis")
        keys = [f"e{i}" for i in range(count)]
        for start in range(0, count, 100):
            scene.publish(bus, keys[start : start + 100])
        fill_memory(client)

    paused_while(workers, backlog)
    scene.phase("out of memory: the worker goes on")
    time.sleep(5)
    free_memory(client)
    scene.fault_end = time.monotonic()
    scene.phase("memory freed")
    scene.settle(15 if scene.quick else 30)
    scene.note_deaths(allowed=False)
    scene.phase("llmgine worker against an unreachable URL")
    url = f"redis://127.0.0.1:{faultkit.free_port()}/0"
    command = [sys.executable, "-m", "llmgine.cli", "worker", "--group", "g", "--url", url]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        scene.problems.append("`llmgine worker --url <unreachable>` did not exit within 30 s")
        return
    lines = done.stderr.strip().splitlines()
    scene.notes.append(
        f"`llmgine worker --url <unreachable>`: rc={done.returncode}, {len(lines)} lines on stderr"
    )
    if "Traceback" in done.stderr:
        scene.problems.append(
            f"`llmgine worker --url <unreachable>` ends in a {len(lines)}-line traceback"
        )


@case(9, "Redis paused (SIGSTOP) while publishing, retries=0", 120, 60)
def paused(scene: Scene) -> None:
    """A publisher with ``retries=0`` dispatches batches of 10 events; Redis is paused
    (SIGSTOP) a quarter of the way in and resumed (the end of the fault) once a publish
    has raised. The caller retries as the docs say: after a ``TransportError`` ("nothing
    was acknowledged") it dispatches again, which makes new events; after a
    ``TransportOutcomeUnknown`` it publishes the very same events again (same ids).

    Guarantee: an error that says nothing was published is true; retries the docs
    recommend make no duplicates (duplicated 0); lost 0.
    """
    count = 500 if scene.quick else 2000
    server = scene.server()
    client = server.client()
    scene.workers(1, server.url)
    scene.wait(lambda: client.exists(STREAM) == 1, 20)
    bus = scene.publisher(server.url, retries=0)
    unknown = getattr(llmgine_redis, "TransportOutcomeUnknown", None)
    scene.errors_allowed = True
    raised = threading.Event()
    claimed_unpublished: list[str] = []  # event ids of batches said to be not published

    def pause_then_resume() -> None:
        server.pause()
        raised.wait(60)
        server.resume()
        scene.fault_end = time.monotonic()

    pauser = threading.Thread(target=pause_then_resume, daemon=True)
    scene.phase("publishing; Redis paused a quarter of the way in")
    for start in range(0, count, 10):
        if start >= count // 4 and pauser.ident is None:
            pauser.start()
            time.sleep(0.2)
        keys = [f"e{i}" for i in range(start, start + 10)]
        scene.sent.update(dict.fromkeys(keys))
        command: Burst | Republish = Burst(keys)
        for _ in range(5):
            try:
                bus.dispatch(command)
            except llmgine_redis.TransportError as exc:
                scene.failed(exc, len(keys))
                raised.set()
                time.sleep(0.5)  # the caller's backoff
                made = command.made if isinstance(command, Burst) else command.events
                if unknown is not None and isinstance(exc, unknown):
                    command = Republish(made)  # idempotent: the same ids again
                else:
                    claimed_unpublished.extend(e.event_id for e in made)
                    command = Burst(keys)  # "nothing was acknowledged": dispatch again
            else:
                scene.accepted.update(keys)
                break
    raised.set()
    pauser.join(65)
    scene.phase("waiting for the deliveries")
    scene.settle(15 if scene.quick else 30)
    eids = {k.decode() for k in scene.tally.hkeys("eids")}
    published = sum(1 for e in claimed_unpublished if e in eids)
    if published:
        scene.problems.append(
            f"{published} events were delivered though their publish raised "
            "TransportError saying nothing was acknowledged"
        )
    scene.note_deaths(allowed=False)
