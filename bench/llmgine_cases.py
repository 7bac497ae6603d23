"""What the runner measures, part 2: llmgine's hot paths, each on its own isolated bus.

Every bus also carries subscriptions that do not match the measured event (other
names, classes and patterns), as a real application's would.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import attrs
from cases import Case, Plain3, Target, async_fns, sync_fns

__all__ = ["LLMGINE", "bench_bus", "bench_types"]

Env = dict[str, Any]

PEERS_1 = ("pyee_1", "blinker_1", "pluggy_1")
PEERS_10 = ("pyee_10", "blinker_10", "pluggy_10")


@functools.cache
def bench_types() -> Any:
    """The user-side message classes, made on first use (after llmgine is importable):
    (Ping, TickBase, Tick, TickAttrs, Other, Event)."""
    from llmgine.messages.commands import Command
    from llmgine.messages.events import Event

    @dataclass
    class Ping(Command[int]):
        a: int
        b: int
        c: int

    class TickBase(Event):
        event_type = "bench.tick"

    @dataclass
    class Tick(TickBase):
        event_type = "bench.tick.fast"
        a: int
        b: int
        c: int

    @attrs.frozen
    class TickAttrs(Event):
        a: int
        b: int
        c: int

    class Other(Event):
        event_type = "other.thing"

    return Ping, TickBase, Tick, TickAttrs, Other, Event


def bench_bus(noise: bool = True) -> Any:
    from llmgine.messages.bus import MessageBus

    bus = MessageBus.isolated()
    if noise:
        _, _, _, _, other, _ = bench_types()
        for i, fn in enumerate(sync_fns(12)):
            bus.subscribe_event(("other.thing", other, "other.*", "nothing.**")[i % 4], fn)
    return bus


def _dispatch(handler_kind: str) -> Callable[[], Env]:
    def setup() -> Env:
        ping = bench_types()[0]
        bus = bench_bus()
        if handler_kind == "async":
            bus.register_command(ping, async_fns(1)[0])
        else:
            bus.register_command(ping, sync_fns(1)[0])
        return {"bus": bus, "cmd": ping(1, 2, 3)}

    return setup


def _dispatch_queue() -> Env:
    ping, _, tick, _, _, _ = bench_types()
    bus = bench_bus()
    add = bus.add_pending_event

    def handle(command: Any) -> None:
        add(tick(1, 2, 3))

    bus.register_command(ping, handle)
    bus.subscribe_event("bench.tick.fast", sync_fns(1)[0])
    return {"bus": bus, "cmd": ping(1, 2, 3)}


def _emit(how: str, n: int, kind: str = "sync") -> Callable[[], Env]:
    def setup() -> Env:
        _, tick_base, tick, _, _, event = bench_types()
        keys: tuple[Any, ...] = {
            "exact": ("bench.tick.fast",),
            "class": (tick, tick_base, event),
            "pattern": ("bench.*.fast", "bench.**", "*", "bench.tick.*"),
        }[how]
        bus = bench_bus()
        fns = async_fns(n) if kind == "async" else sync_fns(n)
        for i, fn in enumerate(fns):
            bus.subscribe_event(keys[i % len(keys)], fn)
        return {"bus": bus, "ev": tick(1, 2, 3)}

    return setup


def _construct() -> Env:
    from llmgine.messages.commands import CreateResourceCommand
    from llmgine.messages.events import ResourceCreatedEvent

    ping, _, tick, tick_attrs, _, _ = bench_types()
    return {
        "Ping": ping,
        "Tick": tick,
        "TickAttrs": tick_attrs,
        "CreateResourceCommand": CreateResourceCommand,
        "ResourceCreatedEvent": ResourceCreatedEvent,
        "data": {"title": "x"},
        "Plain3": Plain3,
    }


def _emit_cases() -> list[Case]:
    cases = []
    floors = {1: "call", 10: "loop10", 100: "loop100"}
    for how in ("exact", "class", "pattern"):
        for n in (1, 10, 100):
            targets: tuple[Target, ...] = ()
            if how == "exact" and n == 10:
                targets = (
                    Target("loop10", 2.5),
                    Target("pyee_10", 1.5, "faster"),
                    Target("blinker_10", 5, "faster"),
                )
            elif n == 10:
                targets = (Target("emit_exact_10", 1.2),)
            via = {"exact": "exact name", "class": "class", "pattern": "pattern"}[how]
            cases.append(
                Case(
                    f"emit_{how}_{n}",
                    "llmgine",
                    f"emit to {n} subscriber{'s' * (n > 1)} via {via}",
                    "bus.emit(ev)",
                    _emit(how, n),
                    floor=floors[n],
                    peers={1: PEERS_1, 10: PEERS_10, 100: ()}[n],
                    targets=targets,
                )
            )
    return cases


_EVENT_TARGET = (Target("slots3", 4),)  # @dataclass events only (issue 18)

LLMGINE = [
    Case(
        "dispatch",
        "llmgine",
        "dispatch, 1 sync handler",
        "bus.dispatch(cmd)",
        _dispatch("sync"),
        floor="call",
        peers=(*PEERS_1, "lato"),
        targets=(
            Target("call", 12),
            *(Target(p, 1, "faster") for p in (*PEERS_1, "lato")),
        ),
    ),
    Case(
        "dispatch_queue",
        "llmgine",
        "dispatch; handler queues 1 event, 1 subscriber",
        "bus.dispatch(cmd)",
        _dispatch_queue,
        floor="chain",
    ),
    *_emit_cases(),
    Case(
        "new_event",
        "llmgine",
        "new @dataclass Event, 3 fields",
        "Tick(1, 2, 3)",
        _construct,
        floor="slots3",
        targets=_EVENT_TARGET,
    ),
    Case(
        "new_event_attrs",
        "llmgine",
        "new @attrs.frozen Event, 3 fields",
        "TickAttrs(1, 2, 3)",
        _construct,
        floor="slots3",
        peers=("pydantic_tick",),
        targets=(Target("pydantic_tick", 1, "faster"),),
    ),
    Case(
        "new_event_core",
        "llmgine",
        "new ResourceCreatedEvent (3 validated fields)",
        "ResourceCreatedEvent(resource_id='r1', resource_type='doc', resource_data=data)",
        _construct,
        floor="slots3",
        peers=("pydantic_resource",),
        targets=(Target("pydantic_resource", 1, "faster"),),
    ),
    Case(
        "new_command",
        "llmgine",
        "new @dataclass Command, 3 fields",
        "Ping(1, 2, 3)",
        _construct,
        floor="slots3",
    ),
    Case(
        "new_command_core",
        "llmgine",
        "new CreateResourceCommand (2 validated fields)",
        "CreateResourceCommand(resource_type='doc', resource_data=data)",
        _construct,
        floor="slots3",
    ),
    Case(
        "dispatch_async",
        "llmgine",
        "await dispatch_async, 1 async handler",
        "await bus.dispatch_async(cmd)",
        _dispatch("async"),
        is_async=True,
        floor="await",
        targets=(Target("await", 6),),
    ),
    Case(
        "dispatch_async_sync",
        "llmgine",
        "await dispatch_async, 1 sync handler",
        "await bus.dispatch_async(cmd)",
        _dispatch("sync"),
        is_async=True,
        floor="call",
    ),
    Case(
        "emit_async_1",
        "llmgine",
        "await emit_async, 1 async subscriber",
        "await bus.emit_async(ev)",
        _emit("exact", 1, "async"),
        is_async=True,
        floor="await",
    ),
    Case(
        "emit_async_10",
        "llmgine",
        "await emit_async, 10 async subscribers (no suspend)",
        "await bus.emit_async(ev)",
        _emit("exact", 10, "async"),
        is_async=True,
        floor="tasks10",
        peers=("gather10", "await10"),
        # issue 18: a task per async subscriber stays; the bar is that mechanism's floor
        targets=(Target("tasks10", 1.3), Target("tasks10_eager", 1.3)),
    ),
    Case(
        "emit_async_sync_10",
        "llmgine",
        "await emit_async, 10 sync subscribers",
        "await bus.emit_async(ev)",
        _emit("exact", 10),
        is_async=True,
        floor="loop10",
    ),
]
