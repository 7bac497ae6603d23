"""Cost of the hot paths with no middleware and with one pass-through middleware.

    python bench/bench_middleware.py            # prints ns per operation, best of 5 rounds

Each row runs the same operation on a fresh isolated bus: ``dispatch`` of a
command whose plain handler queues nothing, ``emit`` of an event with one plain
subscriber, and their async versions awaited inside one running loop. "+1 fn" adds
one pass-through middleware function of the matching kind (plain for the sync
paths, ``async def`` for the async ones); "+1 Around" one pass-through
``llmgine.middleware.Around`` (which keeps plain handlers plain on async paths).
"""

from __future__ import annotations

import asyncio
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmgine.messages import Command, Event, MessageBus

N = 200_000
ROUNDS = 5


@dataclass
class Ping(Command[int]):
    n: int


class Pinged(Event):
    event_type = "pinged"


def handle(command: Ping) -> int:
    return command.n


def on_pinged(event: Pinged) -> None:
    pass


def passthrough(message: Any, call_next: Any) -> Any:
    return call_next(message)


async def apassthrough(message: Any, call_next: Any) -> Any:
    return await call_next(message)


class Passthrough:
    """What an Around subclass is: a plain __call__, an async acall, plain_on_async."""

    plain_on_async = True

    def __call__(self, message: Any, call_next: Any) -> Any:
        return call_next(message)

    async def acall(self, message: Any, call_next: Any) -> Any:
        return await call_next(message)


def make_bus(command_mw: Any = None, event_mw: Any = None) -> MessageBus:
    bus = MessageBus.isolated()
    bus.register_command(Ping, handle)
    bus.subscribe_event(Pinged, on_pinged)
    if command_mw is not None and hasattr(bus, "add_command_middleware"):
        bus.add_command_middleware(command_mw)
    if event_mw is not None and hasattr(bus, "add_event_middleware"):
        bus.add_event_middleware(event_mw)
    return bus


def best(fn: Callable[[], Any]) -> float:
    return min(timeit.repeat(fn, number=N, repeat=ROUNDS)) / N * 1e9


def best_async(make: Callable[[], Any]) -> float:
    async def loop() -> None:
        for _ in range(N):
            await make()

    times = []
    for _ in range(ROUNDS):
        start = timeit.default_timer()
        asyncio.run(loop())
        times.append(timeit.default_timer() - start)
    return min(times) / N * 1e9


def main() -> None:
    command, event = Ping(1), Pinged()
    plain = make_bus()
    fn = make_bus(command_mw=passthrough, event_mw=passthrough)
    afn = make_bus(command_mw=apassthrough, event_mw=apassthrough)
    around = make_bus(command_mw=Passthrough(), event_mw=Passthrough())
    rows = [
        ("dispatch", *(best(lambda b=b: b.dispatch(command)) for b in (plain, fn, around))),
        ("emit", *(best(lambda b=b: b.emit(event)) for b in (plain, fn, around))),
        (
            "dispatch_async",
            *(best_async(lambda b=b: b.dispatch_async(command)) for b in (plain, afn, around)),
        ),
        (
            "emit_async",
            *(best_async(lambda b=b: b.emit_async(event)) for b in (plain, afn, around)),
        ),
    ]
    print(f"python {sys.version.split()[0]}, {N} ops x best of {ROUNDS}, ns per operation")
    print(f"{'operation':<16}{'no middleware':>15}{'+1 fn':>10}{'+1 Around':>11}")
    for name, without, with_fn, with_around in rows:
        print(f"{name:<16}{without:>15.0f}{with_fn:>10.0f}{with_around:>11.0f}")


if __name__ == "__main__":
    main()
