#!/usr/bin/env python3
"""End-to-end events/s over Redis Streams: producer -> Redis -> consumer -> subscriber -> ack.

    python bench/redis_bench.py [--events 50000] [--repeat 3] [--url redis://127.0.0.1:6379/0]
                                [--cases raw,llmgine,faststream,faststream-batch] [--json]

Each case runs a consumer process and a producer process (2 processes, like the
issue's table) on the same stream of ~150 B JSON events, and measures from the
producer's first XADD to the consumer's last acknowledgement:

* ``raw``: redis-py alone, XADD pipelined x100, XREADGROUP COUNT 500 and one XACK
  per batch: the floor.
* ``llmgine``: ``llmgine_redis`` with every guarantee on: a dispatch queues 100
  events and the outbox XADDs them in one pipeline; an ``EventConsumer`` decodes
  each event into its class, dedups (ZMSCORE/ZADD on the group's set), calls the
  subscriber once per event, acknowledges per batch.
* ``faststream``/``faststream-batch``: FastStream's Redis broker (pipelined
  publish), a per-message handler and a batch handler (a list of 500). Needs
  ``pip install ./ './plugins/llmgine-redis[bench]'`` (from the repository root);
  skipped when FastStream is missing.
  FastStream's end is when its handler saw the last event (its ack comes after).
* ``llmgine-w1``/``llmgine-w2``: the ``llmgine`` case with 1 and then 2 consumer
  processes in the group (issue 18's "1 -> 2 worker processes"); the consumers count
  what they handled in a shared Redis counter (one INCRBY per batch, in both cases) and
  the end is when it reached the total. On a 2-core machine the producer, the workers
  and Redis share the cores, so this shows the overhead of a second worker more than
  its gain.

Prints the median events/s per case and the issue's targets for llmgine: >= 60%
of raw, >= 8x faststream, >= faststream-batch. A standalone script so that the
benchmark runner can call it (``--json`` prints a machine-readable result).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import redis

BATCH = 100  # XADDs per pipeline / events per dispatch
READ = 500  # entries per XREADGROUP
GROUP = "bench"
PAYLOAD = {"resource_type": "document", "resource_data": {"title": "x" * 60, "words": 1234}}


def body(i: int) -> dict[str, Any]:
    return {"resource_id": f"r{i:08d}", **PAYLOAD}


# Producers --------------------------------------------------------------------------


def produce_raw(url: str, stream: str, n: int) -> float:
    client = redis.Redis.from_url(url)
    start = time.time()
    for base in range(0, n, BATCH):
        pipe = client.pipeline(transaction=False)
        for i in range(base, min(base + BATCH, n)):
            pipe.xadd(stream, {"m": json.dumps(body(i))})
        pipe.execute()
    return start


def produce_llmgine(url: str, stream: str, n: int) -> float:
    import llmgine_redis
    from llmgine.messages.bus import MessageBus
    from llmgine.messages.commands import Command
    from llmgine.messages.events import ResourceCreatedEvent

    class Publish(Command[None]):
        def __init__(self, base: int) -> None:
            self.base = base

    bus = MessageBus.isolated()

    def handle(command: Publish) -> None:
        for i in range(command.base, min(command.base + BATCH, n)):
            bus.add_pending_event(ResourceCreatedEvent(**body(i)))

    bus.register_command(Publish, handle)
    llmgine_redis.install(bus, url=url, stream=stream, maxlen=None)
    start = time.time()
    for base in range(0, n, BATCH):
        bus.dispatch(Publish(base))
    return start


def produce_faststream(url: str, stream: str, n: int) -> float:
    from faststream.redis import RedisBroker

    async def main() -> float:
        broker = RedisBroker(url)
        await broker.connect()
        client = redis.asyncio.Redis.from_url(url)
        start = time.time()
        for base in range(0, n, BATCH):
            pipe = client.pipeline(transaction=False)
            for i in range(base, min(base + BATCH, n)):
                await broker.publish(body(i), stream=stream, pipeline=pipe)
            await pipe.execute()
        await client.aclose()
        await broker.stop()
        return start

    return asyncio.run(main())


# Consumers (print "ready", then the time of the last ack) ----------------------------


def consume_raw(url: str, stream: str, n: int) -> float:
    client = redis.Redis.from_url(url)
    seen = 0
    print("ready", flush=True)
    while seen < n:
        for _, entries in client.xreadgroup(GROUP, "c1", {stream: ">"}, count=READ, block=1000):
            for _, fields in entries:
                json.loads(fields[b"m"])
                seen += 1
            client.xack(stream, GROUP, *[i for i, _ in entries])
    return time.time()


def consume_llmgine(url: str, stream: str, n: int) -> float:
    from llmgine.messages.bus import MessageBus
    from llmgine_redis import EventConsumer, RedisConfig

    bus = MessageBus.isolated()
    seen = [0]

    def subscriber(event: Any) -> None:
        seen[0] += 1

    bus.subscribe_event("resource.created", subscriber)
    config = RedisConfig(url=url, stream=stream, batch=READ, block_ms=1000)
    consumer = EventConsumer(bus, config, GROUP, consumer="c1")

    async def main() -> float:
        print("ready", flush=True)
        while seen[0] < n:
            await consumer.poll()
        await consumer.drain()
        return time.time()

    return asyncio.run(main())


def consume_faststream(url: str, stream: str, n: int, batch: bool) -> float:
    from faststream.redis import RedisBroker, StreamSub

    async def main() -> float:
        broker = RedisBroker(url)
        done = asyncio.Event()
        seen = [0]
        sub = StreamSub(stream, group=GROUP, consumer="c1", batch=batch, max_records=READ)

        if batch:

            @broker.subscriber(stream=sub)
            async def on_batch(messages: list[dict[str, Any]]) -> None:
                seen[0] += len(messages)
                if seen[0] >= n:
                    done.set()
        else:

            @broker.subscriber(stream=sub)
            async def on_message(message: dict[str, Any]) -> None:
                seen[0] += 1
                if seen[0] >= n:
                    done.set()

        await broker.start()
        print("ready", flush=True)
        await done.wait()
        end = time.time()
        await broker.stop()
        return end

    return asyncio.run(main())


def consume_llmgine_shared(url: str, stream: str, n: int, name: str) -> float:
    """One of several llmgine workers in the group: stop when all of them together have
    handled ``n`` events (a counter next to the stream)."""
    from llmgine.messages.bus import MessageBus
    from llmgine_redis import EventConsumer, RedisConfig

    bus = MessageBus.isolated()
    bus.subscribe_event("resource.created", lambda event: None)
    config = RedisConfig(url=url, stream=stream, batch=READ, block_ms=100)
    consumer = EventConsumer(bus, config, GROUP, consumer=name)
    counter = redis.asyncio.Redis.from_url(url)

    async def main() -> float:
        print("ready", flush=True)
        while True:
            handled = await consumer.poll()
            total = await counter.incrby(f"{stream}:seen", handled) if handled else None
            if total is None:
                total = int(await counter.get(f"{stream}:seen") or 0)
            if total >= n:
                break
        await consumer.drain()
        end = time.time()
        await counter.aclose()
        return end

    return asyncio.run(main())


PRODUCERS = {
    "raw": produce_raw,
    "llmgine": produce_llmgine,
    "llmgine-w1": produce_llmgine,
    "llmgine-w2": produce_llmgine,
    "faststream": produce_faststream,
    "faststream-batch": produce_faststream,
}
CONSUMERS = {
    "raw": consume_raw,
    "llmgine": consume_llmgine,
    "faststream": lambda u, s, n: consume_faststream(u, s, n, False),
    "faststream-batch": lambda u, s, n: consume_faststream(u, s, n, True),
}


# Orchestration ------------------------------------------------------------------------


def run_case(case: str, url: str, n: int) -> float:
    """Run one producer and its consumers (1, or the N of ``llmgine-wN``); return events/s."""
    stream = f"llmgine-bench:{case}:{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(url)
    client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    me = [sys.executable, __file__]
    workers = int(case.rsplit("-w", 1)[1]) if "-w" in case else 1
    consumers = [
        subprocess.Popen(
            [*me, "_consume", case, url, stream, str(n), f"c{i + 1}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    try:
        for consumer in consumers:
            assert consumer.stdout is not None
            for line in consumer.stdout:  # FastStream logs to stdout too
                if line.strip() == "ready":
                    break
            else:
                raise RuntimeError(f"{case} consumer exited before it was ready")
        produced = subprocess.run(
            [*me, "_produce", case, url, stream, str(n)], capture_output=True, text=True
        )
        if produced.returncode:
            raise RuntimeError(f"{case} producer failed:\n{produced.stderr}")
        start = _last_number(produced.stdout)
        # (the first to see the total finished the work; the others notice it after it)
        end = min(_last_number(consumer.communicate(timeout=600)[0]) for consumer in consumers)
    finally:
        for consumer in consumers:
            if consumer.poll() is None:
                consumer.kill()
        keys = list(client.scan_iter(f"{stream}*"))
        client.delete(*keys)
        client.close()
    return n / (end - start)


def _last_number(output: str) -> float:
    for line in reversed(output.strip().splitlines()):
        try:
            return float(line)
        except ValueError:
            continue
    raise RuntimeError(f"no timestamp in output:\n{output}")


def faststream_installed() -> bool:
    try:
        import faststream.redis  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("_produce", "_consume"):
        role, case, url, stream, n = argv[:5]
        if role == "_consume" and "-w" in case:
            print(repr(consume_llmgine_shared(url, stream, int(n), argv[5])), flush=True)
            return 0
        table = PRODUCERS if role == "_produce" else CONSUMERS
        print(repr(table[case](url, stream, int(n))), flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--cases", default="raw,llmgine,faststream,faststream-batch,llmgine-w1,llmgine-w2"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    if not faststream_installed():
        skipped = [c for c in cases if c.startswith("faststream")]
        cases = [c for c in cases if not c.startswith("faststream")]
        if skipped:
            print(
                "FastStream not installed (from the repository root: "
                "pip install ./ './plugins/llmgine-redis[bench]'): skipping",
                skipped,
            )
    runs: dict[str, list[float]] = {c: [] for c in cases}
    for _ in range(args.repeat):  # interleaved, so machine noise hits every case alike
        for case in cases:
            runs[case].append(run_case(case, args.url, args.events))
    medians = {case: statistics.median(rates) for case, rates in runs.items()}
    if args.json:
        print(json.dumps({"events": args.events, "runs": runs, "median": medians}))
        return 0
    print(f"{args.events} events, median of {args.repeat} runs (events/s)")
    for case, rate in medians.items():
        print(f"  {case:<18} {rate:>10,.0f}   runs: {', '.join(f'{r:,.0f}' for r in runs[case])}")
    ours = medians.get("llmgine")
    targets = [
        ("raw", 0.6, ">= 60% of raw"),
        ("faststream", 8.0, ">= 8x FastStream per-message"),
        ("faststream-batch", 1.0, ">= FastStream batch"),
    ]
    for case, factor, label in targets:
        if ours is not None and case in medians:
            ratio = ours / medians[case]
            verdict = "met" if ratio >= factor else "NOT met"
            print(f"  target {label}: llmgine/{case} = {ratio:.2f} ({verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
