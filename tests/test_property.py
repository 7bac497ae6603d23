"""Property tests: pattern matching, and pending-event isolation under concurrency."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections import Counter
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event

# Pattern matching --------------------------------------------------------------


def reference_match(pattern: list[str], name: list[str]) -> bool:
    """The spec, literally: '*' is one segment, '**' one or more, others match themselves."""
    if not pattern:
        return not name
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(reference_match(rest, name[i:]) for i in range(1, len(name) + 1))
    if not name:
        return False
    return (head == "*" or head == name[0]) and reference_match(rest, name[1:])


@cache
def event_class(type_name: str) -> type[Event]:
    return type(f"E_{type_name}", (Event,), {"event_type": type_name})


segments = st.sampled_from(["a", "b", "ab", "c-1"])
names = st.lists(segments, min_size=1, max_size=5)
patterns = st.lists(st.one_of(segments, st.sampled_from(["*", "**"])), min_size=1, max_size=5)


@given(pattern=patterns, name=names)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_patterns_match_like_the_reference(pattern: list[str], name: list[str]) -> None:
    bus = MessageBus.isolated()
    seen: list[str] = []
    bus.subscribe_event(".".join(pattern), lambda e: seen.append(e.event_type))
    bus.emit(event_class(".".join(name))())
    expected = (pattern == ["*"]) or reference_match(pattern, name)
    assert (seen == [".".join(name)]) is expected


@given(name=names)
def test_bare_star_and_exact_name_match_like_the_reference(name: list[str]) -> None:
    bus = MessageBus.isolated()
    seen: list[str] = []
    bus.subscribe_event("*", lambda e: seen.append("star"))
    bus.subscribe_event(".".join(name), lambda e: seen.append("exact"))
    bus.subscribe_event("**", lambda e: seen.append("double"))
    bus.emit(event_class(".".join(name))())
    assert seen == ["star", "exact", "double"]


class Root(Event):
    event_type = "a"


class Mid(Root):
    event_type = "a.b"


class Leaf(Mid):
    event_type = "a.b.ab"


classes = st.sampled_from([Root, Mid, Leaf])
keys = st.one_of(patterns.map(".".join), names.map(".".join), classes, st.just("*"))


@given(
    subscriptions=st.lists(st.tuples(keys, st.integers(0, 3)), max_size=8),
    event_class=classes,
)
def test_delivery_order_and_dedup_match_the_reference(
    subscriptions: list[tuple[str | type[Event], int]], event_class: type[Event]
) -> None:
    """Subscription order, each handler at most once, whatever mix of keys matched."""
    bus = MessageBus.isolated()
    calls: list[int] = []
    handlers = [lambda e, i=i: calls.append(i) for i in range(4)]
    for key, index in subscriptions:
        bus.subscribe_event(key, handlers[index])
    bus.emit(event_class())

    def matches(key: str | type[Event]) -> bool:
        if isinstance(key, type):
            return issubclass(event_class, key)
        return key == "*" or reference_match(key.split("."), event_class.event_type.split("."))

    expected: list[int] = []
    for key, index in subscriptions:
        if matches(key) and index not in expected:
            expected.append(index)
    assert calls == expected


# Pending-event isolation ---------------------------------------------------------


@dataclasses.dataclass
class Work(Command[str]):
    plan: tuple[int, ...]  # per event: how many times to yield before queuing it


@dataclasses.dataclass
class Done(Event):
    event_type = "test.done"
    owner: str
    index: int


@dataclasses.dataclass
class Echo(Event):
    event_type = "test.echo"
    owner: str
    index: int


def build_bus() -> tuple[MessageBus, list[Event]]:
    bus = MessageBus.isolated(strict=True)
    published: list[Event] = []
    lock = threading.Lock()

    def record(event: Event) -> None:
        with lock:
            published.append(event)

    async def async_handler(command: Work) -> str:
        for index, yields in enumerate(command.plan):
            for _ in range(yields):
                await asyncio.sleep(0)
            bus.add_pending_event(Done(owner=command.command_id, index=index))
        return command.command_id

    async def echo(event: Done) -> None:
        # each async subscriber has its own scope: its echo must follow its own event
        await asyncio.sleep(0)
        bus.add_pending_event(Echo(owner=event.owner, index=event.index))

    bus.register_command(Work, async_handler)
    bus.subscribe_event("test.*", record)
    bus.subscribe_event(Done, echo)
    return bus, published


def check(published: list[Event], commands: list[Work]) -> None:
    counts = Counter((type(e).__name__, e.owner, e.index) for e in published)  # type: ignore[attr-defined]
    expected = Counter(
        (kind, c.command_id, i)
        for c in commands
        for i in range(len(c.plan))
        for kind in ("Done", "Echo")
    )
    assert counts == expected  # every event exactly once, none lost, none extra
    for event in published:
        assert event.correlation_id == event.owner  # type: ignore[attr-defined]
    by_owner: dict[str, list[Event]] = {}
    for event in published:
        by_owner.setdefault(event.owner, []).append(event)  # type: ignore[attr-defined]
    for events in by_owner.values():
        done = [e.index for e in events if isinstance(e, Done)]  # type: ignore[attr-defined]
        assert done == sorted(done)  # FIFO within one dispatch


@given(plans=st.lists(st.lists(st.integers(0, 3), max_size=4).map(tuple), min_size=1, max_size=8))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_1000_concurrent_dispatch_async_calls_publish_each_event_once(
    plans: list[tuple[int, ...]],
) -> None:
    bus, published = build_bus()
    commands = [Work(plan=plans[i % len(plans)]) for i in range(1000)]

    async def main() -> list[str]:
        return await asyncio.gather(*(bus.dispatch_async(c) for c in commands))

    results = asyncio.run(main())
    assert results == [c.command_id for c in commands]
    check(published, commands)


@given(plans=st.lists(st.lists(st.integers(0, 2), max_size=4).map(tuple), min_size=1, max_size=4))
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_threads_each_running_their_own_event_loop_never_mix_events(
    plans: list[tuple[int, ...]],
) -> None:
    bus, published = build_bus()
    per_thread = [[Work(plan=plans[(t + i) % len(plans)]) for i in range(50)] for t in range(4)]
    errors: list[BaseException] = []

    def run(commands: list[Work]) -> None:
        async def main() -> None:
            await asyncio.gather(*(bus.dispatch_async(c) for c in commands))

        try:
            asyncio.run(main())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(cs,)) for cs in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    check(published, [c for cs in per_thread for c in cs])


@given(sizes=st.lists(st.integers(0, 5), min_size=1, max_size=6))
@settings(max_examples=10, deadline=None)
def test_sync_dispatch_from_many_threads_never_mixes_events(sizes: list[int]) -> None:
    bus = MessageBus.isolated(strict=True)
    published: list[Done] = []
    lock = threading.Lock()

    def handler(command: Work) -> str:
        for index in range(len(command.plan)):
            bus.add_pending_event(Done(owner=command.command_id, index=index))
        return command.command_id

    def record(event: Done) -> None:
        with lock:
            published.append(event)

    bus.register_command(Work, handler)
    bus.subscribe_event(Done, record)
    commands = [
        [Work(plan=(0,) * sizes[(t + i) % len(sizes)]) for i in range(100)] for t in range(4)
    ]

    def run(batch: list[Work]) -> None:
        for command in batch:
            assert bus.dispatch(command) == command.command_id

    threads = [threading.Thread(target=run, args=(batch,)) for batch in commands]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flat = [c for batch in commands for c in batch]
    assert Counter((e.owner, e.index) for e in published) == Counter(
        (c.command_id, i) for c in flat for i in range(len(c.plan))
    )
    assert all(e.correlation_id == e.owner for e in published)
