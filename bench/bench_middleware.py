"""Cost of the hot paths with no middleware and with one pass-through middleware.

    python bench/bench_middleware.py            # prints ns per operation, best of 5 rounds

Each row runs the same operation on a fresh isolated bus: ``dispatch`` of a
command whose plain handler queues nothing, ``emit`` of an event with one plain
subscriber, and their async versions awaited inside one running loop. "+1 mw" adds
one pass-through middleware (``lambda m, call_next: call_next(m)``, or its async
twin) of the matching kind.
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
    plain, cmw, emw = make_bus(), make_bus(command_mw=passthrough), make_bus(event_mw=passthrough)
    acmw, aemw = make_bus(command_mw=apassthrough), make_bus(event_mw=apassthrough)
    rows = [
        ("dispatch", best(lambda: plain.dispatch(command)), best(lambda: cmw.dispatch(command))),
        ("emit", best(lambda: plain.emit(event)), best(lambda: emw.emit(event))),
        (
            "dispatch_async",
            best_async(lambda: plain.dispatch_async(command)),
            best_async(lambda: acmw.dispatch_async(command)),
        ),
        (
            "emit_async",
            best_async(lambda: plain.emit_async(event)),
            best_async(lambda: aemw.emit_async(event)),
        ),
    ]
    print(f"python {sys.version.split()[0]}, {N} ops x best of {ROUNDS}")
    print(f"{'operation':<16}{'no middleware':>16}{'+1 middleware':>16}")
    for name, without, with_one in rows:
        print(f"{name:<16}{without:>13.0f} ns{with_one:>13.0f} ns")


if __name__ == "__main__":
    main()
