"""The publisher's side of faults: paused and out-of-memory Redis, what consumers would refuse.

* A publish whose outcome is unknown (Redis paused) raises ``TransportOutcomeUnknown``,
  and the README's retry publishes the same events again, which consumers deliver once.
* A remote command's reply and acknowledgement go together: under OOM the worker keeps
  the reply and retries, and leaves the command pending if it stops meanwhile.
* What every consumer would refuse or change (an entry over ``max_entry_bytes``, a NaN
  or infinite float) is refused by the publisher, before anything of the batch is sent.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import pickle
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import llmgine_redis
import pytest
import redis
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event, ResourceCreatedEvent, ResourceDeletedEvent
from llmgine_redis import TransportError, TransportOutcomeUnknown, WireError
from llmgine_redis._packed import Attempts, MaybeSent

pytestmark = pytest.mark.redis

README = Path(__file__).parents[1] / "README.md"


@dataclasses.dataclass
class PlaceOrder(Command[str]):
    order: str


@dataclasses.dataclass
class Measure(Command[str]):
    value: float | None = None
    blob: str = ""


@dataclasses.dataclass
class Reading(Event):
    sensor: str
    value: float
    previous: float | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Counted(Event):
    """Annotations that say no float, which nothing enforces."""

    count: int | None = None
    counts: list[int] = dataclasses.field(default_factory=list)
    pair: tuple[int, ...] = ()
    label: str | None = None


WIRE_NAMES = {
    Counted: "test.faults.Counted",
    PlaceOrder: "test.faults.PlaceOrder",
    Measure: "test.faults.Measure",
    Reading: "test.faults.Reading",
}
REMOTE_TYPES = [Measure]


def deleted(name: str) -> ResourceDeletedEvent:
    return ResourceDeletedEvent(resource_id=name, resource_type="t")


def stream_ids(client: redis.Redis, stream: str) -> list[str]:
    """The event ids of the entries of ``stream``, in order (copies included)."""
    return [
        re.search(rb'"id":"([^"]+)"', fields[b"m"]).group(1).decode()  # type: ignore[union-attr]
        for _, fields in client.xrange(stream)
    ]


# Fault 9: an unknown outcome -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.slow
async def test_a_publish_to_a_paused_redis_raises_outcome_unknown(redis_server, prefix, mode):
    server = redis_server(persist=False)
    bus = MessageBus.isolated()
    local: list[str] = []
    bus.subscribe_event("resource.deleted", lambda e: local.append(e.resource_id))
    # a short socket timeout (redis-py takes it from the URL) and no retries
    transport = llmgine_redis.install(
        bus, url=server.url + "?socket_timeout=0.5", prefix=prefix, retries=0
    )
    await bus.emit_async(deleted("warm")) if mode == "async" else bus.emit(deleted("warm"))
    event = deleted("x")
    server.pause()  # the connection stays open; Redis answers nothing
    try:
        with pytest.raises(TransportOutcomeUnknown) as info:
            await bus.emit_async(event) if mode == "async" else bus.emit(event)
    finally:
        server.resume()
    error = info.value
    assert isinstance(error, TransportError)
    assert error.events == (event,)  # the same object: re-emitting it keeps its id
    assert "outcome is unknown" in str(error)
    assert "duplicate" in str(error)
    assert local == ["warm"]  # nothing of the failed batch was delivered locally
    client = server.client()
    deadline = time.monotonic() + 10
    while len(stream_ids(client, transport.config.event_stream)) < 2:  # appended on resume
        assert time.monotonic() < deadline, "the paused write never arrived"
        time.sleep(0.05)
    assert stream_ids(client, transport.config.event_stream)[1] == event.event_id
    client.close()
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is TransportOutcomeUnknown
    assert str(copy) == str(error)
    assert [e.event_id for e in copy.events] == [event.event_id]


def test_nothing_sent_is_a_plain_transport_error():
    bus = MessageBus.isolated()
    llmgine_redis.install(bus, url="redis://127.0.0.1:1/0", retries=0)  # refused at once
    event = deleted("x")
    with pytest.raises(TransportError, match="nothing was published") as info:
        bus.emit(event)
    assert not isinstance(info.value, TransportOutcomeUnknown)
    assert info.value.events == (event,)
    llmgine_redis.disable(bus)


@pytest.mark.slow
def test_a_batch_redis_refused_whole_is_a_plain_error_and_one_taken_in_part_is_unknown(
    redis_server, prefix
):
    server = redis_server(persist=False, maxmemory="100mb")
    bus = MessageBus.isolated()
    llmgine_redis.install(bus, url=server.url, prefix=prefix, retries=0)
    bus.emit(deleted("warm"))
    fill(server)
    with pytest.raises(TransportError, match="nothing was published") as info:
        bus.emit(deleted("refused"))  # every XADD refused: OOM
    assert not isinstance(info.value, TransportOutcomeUnknown)
    unfill(server)
    # Redis refusing part of a batch (OOM reached in the middle) cannot be staged
    # reliably; what the batch then raises:
    refused = redis.ResponseError("OOM command not allowed")
    outcome = Attempts(3)
    outcome.sending()
    outcome.refused(refused)
    assert isinstance(outcome.error(refused), MaybeSent)  # one of three refused
    for _ in range(2):
        outcome.refused(refused)
    assert outcome.error(refused) is refused  # all three: nothing was appended
    outcome.sending()  # a second attempt after a timeout: the first may have been appended
    for _ in range(3):
        outcome.refused(refused)
    assert isinstance(outcome.error(refused), MaybeSent)


async def test_a_retry_inside_the_transport_resends_the_same_bytes_and_consumers_skip_it(
    config, raw, pump, monkeypatch
):
    cfg = config()
    bus = MessageBus.isolated()
    transport = llmgine_redis.install(bus, **attrs.asdict(cfg))
    receiver = MessageBus.isolated()
    got: list[str] = []
    receiver.subscribe_event("resource.deleted", lambda e: got.append(e.event_id))
    consumer = llmgine_redis.EventConsumer(receiver, cfg, "svc")
    await consumer.ensure_groups()
    bus.emit(deleted("warm"))
    # The reply to the next write is lost once (after Redis applied it): a retry resends.
    connection_class = redis.connection.AbstractConnection
    read = connection_class.read_response
    lost = [True]

    def read_once_lost(self: Any, *args: Any, **kwargs: Any) -> Any:
        if lost:
            lost.clear()
            raise redis.TimeoutError("reply lost (test)")
        return read(self, *args, **kwargs)

    monkeypatch.setattr(connection_class, "read_response", read_once_lost)
    bus.emit(deleted("twice"))
    monkeypatch.undo()
    entries = raw.xrange(transport.config.event_stream)
    assert len(entries) == 3
    assert entries[1][1][b"m"] == entries[2][1][b"m"]  # the very same bytes
    await pump([consumer], lambda: len(got) == 2)
    await consumer.poll()
    await consumer.flush()
    assert len(got) == 2  # the copy was skipped by its event id
    assert consumer.duplicates == 1


def readme_example() -> str:
    """The README's code block that defines ``republish`` (and uses it)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    [block] = [b for b in blocks if "def republish" in b]
    return block


@pytest.mark.slow
async def test_the_readmes_retry_after_an_unknown_outcome_delivers_each_event_once(
    redis_server, prefix, pump
):
    server = redis_server(persist=False)
    url = server.url + "?socket_timeout=0.5"
    bus = MessageBus.isolated()
    ran: list[str] = []

    def place(command: PlaceOrder) -> str:
        ran.append(command.order)
        for part in ("a", "b", "c"):
            bus.add_pending_event(deleted(f"{command.order}-{part}"))
        return "placed"

    bus.register_command(PlaceOrder, place)
    local: list[str] = []
    bus.subscribe_event("resource.deleted", lambda e: local.append(e.resource_id))
    transport = llmgine_redis.install(bus, url=url, prefix=prefix, retries=0)
    receiver = MessageBus.isolated()
    delivered: list[str] = []
    receiver.subscribe_event("resource.deleted", lambda e: delivered.append(e.event_id))
    consumer = llmgine_redis.EventConsumer(
        receiver, llmgine_redis.RedisConfig(url=server.url, prefix=prefix, block_ms=50), "svc"
    )
    await consumer.ensure_groups()
    bus.emit(deleted("warm"))  # an open connection, as in a running service
    server.pause()
    threading.Timer(1.2, server.resume).start()  # Redis comes back while republish() retries
    exec(readme_example(), {"bus": bus, "PlaceOrder": PlaceOrder})
    assert ran == ["o-1"]  # the handler ran once
    assert local == ["warm", "o-1-a", "o-1-b", "o-1-c"]  # local subscribers: once each
    client = server.client()
    ids = stream_ids(client, transport.config.event_stream)
    client.close()
    assert len(ids) > 4, "the paused write should have been appended too (copies)"
    await pump([consumer], lambda: len(delivered) >= 4)
    for _ in range(3):
        await consumer.poll()  # read every copy
    await consumer.flush()
    assert set(ids) == set(delivered)
    assert collections.Counter(delivered).most_common(1)[0][1] == 1  # each exactly once


# Fault 1: a command's reply and its acknowledgement, under OOM ---------------------------


def oom_pair(server: Any, prefix: str, timeout: float) -> tuple[MessageBus, Any, list[str]]:
    """A caller's bus and a worker whose handler puts Redis over maxmemory, then answers."""
    cfg = {"url": server.url, "prefix": prefix, "block_ms": 50, "claim_idle_ms": 60_000}
    caller_bus, worker_bus = MessageBus.isolated(), MessageBus.isolated()
    ran: list[str] = []

    def measure(command: Measure) -> str:
        fill(server)
        ran.append(command.command_id)
        return "measured"

    worker_bus.register_command(Measure, measure)
    llmgine_redis.install(caller_bus, command_timeout=timeout, **cfg)
    worker = llmgine_redis.install(worker_bus, worker=True, **cfg)
    return caller_bus, worker, ran


def fill(server: Any) -> None:
    """Put Redis over ``maxmemory``: lower it below what Redis uses (writes then fail: OOM)."""
    client = server.client()
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used // 2)
    client.close()


def unfill(server: Any) -> None:
    """Give Redis its memory back."""
    client = server.client()
    client.config_set("maxmemory", "100mb")
    client.close()


def pending(server: Any, prefix: str) -> int:
    client = server.client()
    try:
        return int(
            client.xpending(f"{prefix}:commands:test.faults.Measure", "llmgine-workers")["pending"]
        )
    finally:
        client.close()


@pytest.mark.slow
async def test_a_reply_refused_for_lack_of_memory_is_retried_before_the_ack(
    redis_server, prefix, serving
):
    server = redis_server(persist=False, maxmemory="100mb")
    caller_bus, worker, ran = oom_pair(server, prefix, timeout=15.0)
    async with serving(worker):
        call = asyncio.create_task(caller_bus.dispatch_async(Measure(1.0)))
        deadline = time.monotonic() + 10
        while not ran:
            assert time.monotonic() < deadline, call
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.4)  # the worker meets OOM on the reply, and retries
        assert pending(server, prefix) == 1  # not acknowledged without its reply
        unfill(server)  # memory again: the retry gets through
        assert await asyncio.wait_for(call, 10) == "measured"
    assert pending(server, prefix) == 0
    assert len(ran) == 1


@pytest.mark.slow
async def test_a_worker_stopped_while_its_reply_is_refused_leaves_the_command_pending(
    redis_server, prefix, serving
):
    server = redis_server(persist=False, maxmemory="100mb")
    caller_bus, worker, ran = oom_pair(server, prefix, timeout=2.0)
    call = asyncio.create_task(caller_bus.dispatch_async(Measure(1.0)))
    async with serving(worker):
        deadline = time.monotonic() + 10
        while not ran:
            assert time.monotonic() < deadline, call
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
    # serving stopped (drained) while Redis still refused the reply: the command ran,
    # and stays pending for another worker to reclaim, instead of being acknowledged
    assert pending(server, prefix) == 1
    with pytest.raises(llmgine_redis.RemoteCommandTimeout, match="outcome is unknown"):
        await call


@pytest.mark.slow
async def test_a_connection_lost_after_the_command_was_sent_is_an_unknown_outcome(
    redis_server, prefix
):
    server = redis_server(persist=False)
    bus = MessageBus.isolated()
    llmgine_redis.install(bus, url=server.url, prefix=prefix, retries=0, command_timeout=20.0)
    command = Measure(2.0)
    call = asyncio.create_task(bus.dispatch_async(command))
    client = server.client()
    deadline = time.monotonic() + 10
    while not client.exists(f"{prefix}:commands:test.faults.Measure"):  # it was queued
        assert time.monotonic() < deadline, call
        await asyncio.sleep(0.02)
    client.close()
    await asyncio.sleep(0.1)  # the caller waits for the reply (BLPOP)
    server.kill()
    with pytest.raises(TransportOutcomeUnknown, match="outcome is unknown") as info:
        await asyncio.wait_for(call, 10)
    assert info.value.command is command
    assert "could not send" not in str(info.value)


# Fault 11: what consumers would refuse, refused by the publisher --------------------------


async def test_an_entry_over_max_entry_bytes_is_refused_before_anything_is_sent(config, raw, pump):
    cfg = config(max_entry_bytes=2_000)
    bus = MessageBus.isolated()
    local: list[str] = []
    bus.subscribe_event("resource.created", lambda e: local.append(e.resource_id))
    transport = llmgine_redis.install(bus, **attrs.asdict(cfg))
    receiver = MessageBus.isolated()
    got: list[str] = []
    receiver.subscribe_event("resource.created", lambda e: got.append(e.resource_id))
    consumer = llmgine_redis.EventConsumer(receiver, cfg, "svc")
    await consumer.ensure_groups()

    def created(name: str, size: int) -> ResourceCreatedEvent:
        # (fixed ids and time: the size of the entry depends on the text alone)
        return ResourceCreatedEvent(
            resource_id=name,
            resource_type="t",
            resource_data={"text": "x" * size},
            event_id=f"id-{name}",
            correlation_id="c",
            timestamp=datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
        )

    # the largest that fits: a consumer with the same setting takes it
    fitting = created("fits", 2_000 - len(transport.outbox._encode([created("fits", 0)])[0]))
    assert len(transport.outbox._encode([fitting])[0]) == 2_000
    bus.emit(fitting)
    big = created("big", 2_000)
    with pytest.raises(WireError, match="oversized") as info:
        bus.emit(big)
    message = str(info.value)
    for part in ("ResourceCreatedEvent", "llmgine.ResourceCreatedEvent", "2000", "max_entry_bytes"):
        assert part in message
    assert re.search(r"encodes to \d{4} bytes", message)

    class Both(Command[None]):  # one batch: a small event, then the big one
        pass

    bus.register_command(Both, lambda c: [bus.add_pending_event(e) for e in (created("s", 1), big)])
    with pytest.raises(WireError, match="oversized"):
        bus.dispatch(Both())
    assert raw.xlen(transport.config.event_stream) == 1  # only the one that fits
    assert local == ["fits"]
    await pump([consumer], lambda: got == ["fits"])
    assert raw.xlen(transport.config.event_stream + ":dead") == 0


async def test_nan_and_infinity_are_refused_naming_the_field(config, raw):
    bus = MessageBus.isolated()
    transport = llmgine_redis.install(bus, **attrs.asdict(config()))
    cases = [
        (Reading("s", float("nan")), r"Reading\.value: nan is not a JSON number"),
        (Reading("s", 1.0, previous=float("inf")), r"Reading\.previous: inf"),
        (
            Reading("s", 1.0, extra={"a": [1, {"b": -float("inf")}]}),
            r'Reading\.extra\["a"\]\[1\]\["b"\]: -inf',
        ),
        (
            ResourceCreatedEvent(
                resource_id="r", resource_type="t", resource_data={"n": float("nan")}
            ),
            r'ResourceCreatedEvent\.resource_data\["n"\]: nan',
        ),
    ]
    for event, where in cases:
        with pytest.raises(WireError, match=where) as info:
            bus.emit(event)
        assert info.value.reason == "invalid-fields"
        assert type(event).__qualname__ in str(info.value)
        with pytest.raises(WireError, match=where):
            await bus.emit_async(event)
    bus.emit(Reading("s", 1.5, previous=None, extra={"ok": [2.5, None, "x"]}))
    assert raw.xlen(transport.config.event_stream) == 1


def test_a_float_where_the_annotation_says_none_is_checked_too(config, raw):
    # orjson would write null, which a consumer takes for None (count, label) or a
    # list item: the value would arrive changed, with no dead letter.
    bus = MessageBus.isolated()
    transport = llmgine_redis.install(bus, **attrs.asdict(config()))
    nan, inf = float("nan"), float("inf")
    cases = [
        (Counted(count=inf), r"Counted\.count: inf"),  # type: ignore[arg-type]
        (Counted(counts=[1, nan]), r"Counted\.counts\[1\]: nan"),  # type: ignore[list-item]
        (Counted(pair=(1, inf)), r"Counted\.pair\[1\]: inf"),
        (Counted(label=nan), r"Counted\.label: nan"),  # type: ignore[arg-type]
    ]
    for event, where in cases:
        with pytest.raises(WireError, match=where):
            bus.emit(event)
    bus.emit(Counted(count=3, counts=[1, 2], pair=(1, 2), label="ok"))
    assert raw.xlen(transport.config.event_stream) == 1


async def test_remote_commands_are_checked_the_same_way(config, raw, prefix):
    bus = MessageBus.isolated()
    llmgine_redis.install(bus, **attrs.asdict(config(max_entry_bytes=1_000)))
    with pytest.raises(WireError, match=r"Measure\.value: inf"):
        await bus.dispatch_async(Measure(float("inf")))
    with pytest.raises(WireError, match=r"oversized.*max_entry_bytes"):
        await bus.dispatch_async(Measure(1.0, blob="x" * 1_000))
    assert not raw.exists(f"{prefix}:commands:test.faults.Measure")  # nothing was queued
