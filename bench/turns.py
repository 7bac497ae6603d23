#!/usr/bin/env python3
"""The LLM-turn workload of issue 18, for llmgine and its peers, in this interpreter.

A turn: one command whose handler streams ``TOKENS`` token events, each to ``FANOUT``
subscribers, then queues a "turn finished" event (one more delivery). Peers without
commands (pyee, blinker) run the same loop in a plain coroutine. ``*_bare`` variants
publish a bare string per token; every other variant carries a message object per
token: the peers a dataclass with a uuid4 id and an aware timestamp (``Token``), bubus
and upstream LLMgine their own event classes, llmgine its ``@dataclass`` events.

This file imports nothing from ``bench/`` (it runs in upstream LLMgine's own virtual
environment too). It prints one JSON object: ``{"throughput": {impl: {...}},
"latency": {impl: {concurrency: {...}}}, "errors": {impl: text}}``.

    python bench/turns.py --impls ours_async,blinker_bare --rounds 3
    python bench/turns.py --impls ours_async --latency 1,100,1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TOKENS = 50
FANOUT = 3
DELIVERIES_PER_TURN = TOKENS * FANOUT + 1
now_ns = time.perf_counter_ns


@dataclass
class Token:
    """The peers' message object: what llmgine's events carry (id, aware timestamp)."""

    turn: int
    index: int
    text: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    sent: int = 0


class Probe:
    """Counts deliveries; records publish-to-delivery latency when ``recording``."""

    def __init__(self) -> None:
        self.delivered = 0
        self.recording = False
        self.latencies: list[int] = []

    def got(self, message: Any) -> None:
        self.delivered += 1
        if self.recording:
            self.latencies.append(now_ns() - message.sent)


@dataclass
class Impl:
    """One implementation, set up: ``turn(i, stream)`` runs turn ``i`` (``stream``:
    yield to the loop between tokens, as a model's stream does); ``settle()`` waits
    until everything published was delivered; ``close()`` tears down."""

    turn: Callable[[int, bool], Awaitable[Any]]
    settle: Callable[[], Awaitable[None]]
    close: Callable[[], Awaitable[None]]
    probe: Probe
    latency: bool = True  # False: bare payloads carry no send time


async def _nothing() -> None:
    return None


def _subscribers(probe: Probe, is_async: bool, blinker: bool = False) -> list[Callable[..., Any]]:
    """``FANOUT`` distinct subscribers; the first records latency, every one counts.
    ``blinker``: the receiver signature ``(sender, msg=...)``."""

    def make(first: bool) -> Callable[..., Any]:
        got = probe.got
        if blinker:

            async def receiver(sender: Any, msg: Any) -> None:
                if first:
                    got(msg)
                else:
                    probe.delivered += 1

            return receiver
        if is_async:

            async def subscriber(message: Any) -> None:
                if first:
                    got(message)
                else:
                    probe.delivered += 1

            return subscriber

        def plain(message: Any) -> None:
            if first:
                got(message)
            else:
                probe.delivered += 1

        return plain

    made = [make(i == 0) for i in range(FANOUT)]
    for i, fn in enumerate(made):  # (bubus tells handlers apart by name)
        fn.__name__ = fn.__qualname__ = f"subscriber_{i}"
    return made


def _wire(
    probe: Probe, on: Callable[[Any, Any], Any], token: Any, finished: Any, is_async: bool
) -> None:
    """Subscribe ``FANOUT`` subscribers to ``token`` and one to ``finished`` with ``on``."""
    for fn in _subscribers(probe, is_async):
        on(token, fn)
    on(finished, _subscribers(probe, is_async)[1])


async def _stream(
    turn: int, make: Callable[..., Any], publish: Callable[[Any], Awaitable[Any]], stream: bool
) -> None:
    """Publish a turn's ``TOKENS`` token events made by ``make``, awaiting each publish
    (upstream and bubus: their per-token call costs far more than this loop's extra call)."""
    for i in range(TOKENS):
        token = make(turn=turn, index=i, text="tok")
        token.sent = now_ns()
        await publish(token)
        if stream:
            await asyncio.sleep(0)


# llmgine (this project) -----------------------------------------------------------------


async def ours(kind: str) -> Impl:
    """kind: async (``await emit_async``, async subscribers, a task each), sync (``emit``,
    plain subscribers), background (``emit``, ``async def`` background subscribers: a
    drainer task each, every event in a task of its own), thread (``emit``, plain
    background subscribers: a thread each)."""
    from llmgine.messages.bus import MessageBus
    from llmgine.messages.commands import Command
    from llmgine.messages.events import Event

    class OurToken(Event):
        event_type = "llm.token"

    @dataclass
    class TokenEvent(OurToken):
        turn: int
        index: int
        text: str
        sent: int = 0

    @dataclass
    class TurnFinished(Event):
        event_type = "llm.turn.finished"
        turn: int

    @dataclass
    class Turn(Command[None]):
        turn: int

    probe = Probe()
    bus = MessageBus.isolated()
    background = kind in ("background", "thread")
    is_async = kind in ("async", "background")
    room = {"background": True, "max_pending": 1_000_000} if background else {}
    for fn in _subscribers(probe, is_async):
        bus.subscribe_event("llm.token", fn, **room)
    finished = _subscribers(probe, is_async)[1]
    bus.subscribe_event("llm.turn.finished", finished, **room)
    emit, emit_async, queue = bus.emit, bus.emit_async, bus.add_pending_event
    sleep = asyncio.sleep

    if kind == "async":

        async def handle(command: Turn) -> None:
            for i in range(TOKENS):
                event = TokenEvent(command.turn, i, "tok")
                event.sent = now_ns()
                await emit_async(event)
                if stream:
                    await sleep(0)
            queue(TurnFinished(command.turn))

    else:

        async def handle(command: Turn) -> None:
            for i in range(TOKENS):
                event = TokenEvent(command.turn, i, "tok")
                event.sent = now_ns()
                emit(event)
                if stream:
                    await sleep(0)
            queue(TurnFinished(command.turn))

    bus.register_command(Turn, handle)
    stream = False

    def turn(i: int, streaming: bool) -> Awaitable[Any]:
        nonlocal stream
        stream = streaming
        return bus.dispatch_async(Turn(i))

    async def settle() -> None:
        if kind == "background":
            await bus.drain_async()
        elif kind == "thread":
            bus.drain()  # (the threads need nothing of this loop)

    return Impl(turn, settle, _nothing, probe)


# Upstream LLMgine 0.0.1 (PyPI `llmgine`, in its own environment) -------------------------


async def upstream(await_processing: bool) -> Impl:
    """Upstream's bus: ``publish(event, await_processing=...)`` from a command handler run
    by ``execute``; its default (True) waits for the event's batch to be processed."""
    import logging

    from llmgine.bus.bus import MessageBus  # type: ignore[import-not-found]
    from llmgine.messages.commands import (  # type: ignore[import-not-found]
        Command,
        CommandResult,
    )
    from llmgine.messages.events import Event  # type: ignore[import-not-found]

    logging.getLogger("llmgine").setLevel(logging.ERROR)

    @dataclass
    class UpToken(Event):  # type: ignore[misc]
        turn: int = 0
        index: int = 0
        text: str = ""
        sent: int = 0

    @dataclass
    class UpFinished(Event):  # type: ignore[misc]
        turn: int = 0

    @dataclass
    class UpTurn(Command):  # type: ignore[misc]
        turn: int = 0

    MessageBus._instance = None  # a singleton: a fresh bus per variant
    bus = MessageBus()
    await bus.start()
    probe = Probe()
    _wire(probe, bus.register_event_handler, UpToken, UpFinished, True)
    stream = False

    def publish(event: Any) -> Awaitable[None]:
        return bus.publish(event, await_processing=await_processing)  # type: ignore[no-any-return]

    async def handle(command: Any) -> Any:
        await _stream(command.turn, UpToken, publish, stream)
        await bus.publish(UpFinished(turn=command.turn), await_processing=False)
        return CommandResult(success=True, command_id=command.command_id)

    bus.register_command_handler(UpTurn, handle)

    def turn(i: int, streaming: bool) -> Awaitable[Any]:
        nonlocal stream
        stream = streaming
        return bus.execute(UpTurn(turn=i))

    async def close() -> None:
        await bus.stop()
        MessageBus._instance = None

    return Impl(turn, bus.wait_for_events, close, probe)


# bubus ------------------------------------------------------------------------------------


async def bubus_impl() -> Impl:
    """bubus: pydantic events; the turn is an event whose handler dispatches each token
    event and awaits its completion, then dispatches the finished event."""
    from bubus import BaseEvent, EventBus

    class TokenEvent(BaseEvent[None]):
        turn: int
        index: int
        text: str
        sent: int = 0

    class TurnFinished(BaseEvent[None]):
        turn: int

    class TurnEvent(BaseEvent[None]):
        turn: int

    probe = Probe()
    bus = EventBus(name="BenchBus")
    _wire(probe, bus.on, TokenEvent, TurnFinished, True)
    stream = False

    async def publish(token: Any) -> None:
        await bus.dispatch(token)

    async def handle(event: Any) -> None:
        await _stream(event.turn, TokenEvent, publish, stream)
        bus.dispatch(TurnFinished(turn=event.turn))

    bus.on(TurnEvent, handle)

    async def turn(i: int, streaming: bool) -> None:
        nonlocal stream
        stream = streaming
        await bus.dispatch(TurnEvent(turn=i))

    async def close() -> None:
        # (after a run cut short by the time budget, its stop() can wait forever)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bus.stop(clear=True, timeout=2), 5)

    return Impl(turn, bus.wait_until_idle, close, probe)


# pyee, blinker ------------------------------------------------------------------------------


async def pyee_impl(is_async: bool, bare: bool) -> Impl:
    """pyee's AsyncIOEventEmitter: ``emit`` calls plain listeners inline and schedules a
    task per ``async def`` listener without waiting for it (``wait_for_complete`` at the
    end of the run)."""
    from pyee.asyncio import AsyncIOEventEmitter

    probe = Probe()
    ee = AsyncIOEventEmitter()
    _wire(probe, ee.on, "token", "finished", is_async)
    emit = ee.emit

    async def turn(i: int, streaming: bool) -> None:
        for index in range(TOKENS):
            if bare:
                emit("token", "tok")
            else:
                token = Token(i, index, "tok")
                token.sent = now_ns()
                emit("token", token)
            if streaming:
                await asyncio.sleep(0)
        emit("finished", "done" if bare else Token(i, TOKENS, "done"))

    return Impl(turn, ee.wait_for_complete, _nothing, probe, latency=not bare)


async def blinker_impl(bare: bool) -> Impl:
    """blinker's ``send_async``: awaits each ``async def`` receiver in turn, in the
    publisher's task (no task, no concurrency between receivers)."""
    import blinker

    probe = Probe()
    token_signal, finished_signal = blinker.Signal(), blinker.Signal()
    keep = _subscribers(probe, True, blinker=True)  # (blinker holds receivers weakly)
    for fn in keep:
        token_signal.connect(fn)
    done = _subscribers(probe, True, blinker=True)[1]
    finished_signal.connect(done)
    send, finish = token_signal.send_async, finished_signal.send_async

    async def turn(i: int, streaming: bool) -> None:
        for index in range(TOKENS):
            if bare:
                await send(None, msg="tok")
            else:
                token = Token(i, index, "tok")
                token.sent = now_ns()
                await send(None, msg=token)
            if streaming:
                await asyncio.sleep(0)
        await finish(None, msg="done" if bare else Token(i, TOKENS, "done"))

    impl = Impl(turn, _nothing, _nothing, probe, latency=not bare)
    impl.keep = (keep, done)  # type: ignore[attr-defined]
    return impl


IMPLS: dict[str, Callable[[], Awaitable[Impl]]] = {
    "ours_async": lambda: ours("async"),
    "ours_sync": lambda: ours("sync"),
    "ours_background": lambda: ours("background"),
    "ours_thread": lambda: ours("thread"),
    "upstream_nowait": lambda: upstream(False),
    "upstream_wait": lambda: upstream(True),
    "bubus": bubus_impl,
    "pyee_async_bare": lambda: pyee_impl(True, True),
    "pyee_async_msg": lambda: pyee_impl(True, False),
    "pyee_sync_bare": lambda: pyee_impl(False, True),
    "pyee_sync_msg": lambda: pyee_impl(False, False),
    "blinker_bare": lambda: blinker_impl(True),
    "blinker_msg": lambda: blinker_impl(False),
}


# Measuring ------------------------------------------------------------------------------------


async def _run_turns(impl: Impl, first: int, count: int) -> int:
    """Run ``count`` turns one after another and settle; return the ns taken."""
    started = now_ns()
    for i in range(first, first + count):
        await impl.turn(i, False)
    await impl.settle()
    return now_ns() - started


async def throughput(name: str, rounds: int, round_s: float) -> dict[str, Any]:
    """Turns/s over ``rounds`` timed runs of about ``round_s`` each (after a warm-up turn)."""
    impl = await IMPLS[name]()
    try:
        count, first = 1, 0
        while True:  # warm-up (caches, plans) and the turns a round needs, as timeit does
            took = await _run_turns(impl, first, count)
            first += count
            if took >= round_s * 1e9 / 4 or count >= 100_000:
                break
            count *= 10 if took < round_s * 1e9 / 100 else 2
        count = max(1, min(100_000, int(count * round_s * 1e9 / max(took, 1))))
        per_turn: list[float] = []
        for _ in range(rounds):
            before = impl.probe.delivered
            took = await _run_turns(impl, first, count)
            first += count
            got = impl.probe.delivered - before
            if got != count * DELIVERIES_PER_TURN:
                raise RuntimeError(f"{got} deliveries, expected {count * DELIVERIES_PER_TURN}")
            per_turn.append(took / count)
    finally:
        await impl.close()
    best, median = min(per_turn), statistics.median(per_turn)
    return {
        "turns": count,
        "rounds": rounds,
        "ns_per_turn": per_turn,
        "turns_per_s": 1e9 / median,
        "turns_per_s_best": 1e9 / best,
        "deliveries_per_s": DELIVERIES_PER_TURN * 1e9 / median,
    }


def _percentile(ordered: list[int], p: float) -> float:
    return float(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))])


async def latency(name: str, concurrency: int, turns: int, budget_s: float) -> dict[str, Any]:
    """Publish-to-delivery latency (first subscriber) with ``concurrency`` turns in flight,
    each yielding to the loop between tokens; ``turns`` in all."""
    if name == "bubus" and concurrency >= 100:
        # it raises "EventBus at capacity: 100 pending events (100 max)", then hangs in stop()
        return {"skipped": "refuses over 100 pending events"}
    impl = await IMPLS[name]()
    try:
        if not impl.latency:
            return {"skipped": "a bare payload carries no send time"}
        await _run_turns(impl, 0, 1)  # warm-up
        impl.probe.recording = True
        started = now_ns()
        next_turn = iter(range(1, turns + 1))

        async def worker() -> None:
            for i in next_turn:
                await impl.turn(i, True)

        try:
            async with asyncio.timeout(budget_s):
                await asyncio.gather(*(worker() for _ in range(concurrency)))
                await impl.settle()
        except TimeoutError:
            return {"skipped": f"over the budget of {budget_s:g} s"}
        took = now_ns() - started
    finally:
        await impl.close()
    ordered = sorted(impl.probe.latencies)
    return {
        "samples": len(ordered),
        "turns": turns,
        "p50_us": _percentile(ordered, 50) / 1e3,
        "p99_us": _percentile(ordered, 99) / 1e3,
        "p999_us": _percentile(ordered, 99.9) / 1e3,
        "max_us": ordered[-1] / 1e3 if ordered else None,
        "turns_per_s": turns * 1e9 / took,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"throughput": {}, "latency": {}, "errors": {}}
    for name in args.impls.split(","):
        try:
            if args.rounds:
                out["throughput"][name] = await throughput(name, args.rounds, args.round_s)
            for level in filter(None, args.latency.split(",")):
                c = int(level)
                turns = max(c, args.min_turns)
                try:
                    row = await latency(name, c, turns, args.budget_s)
                except Exception as exc:  # (bubus refuses more than 100 pending events)
                    row = {"skipped": f"failed: {type(exc).__name__}: {exc}"[:200]}
                out["latency"].setdefault(name, {})[c] = row
        except Exception as exc:  # one peer failing must not lose the others' figures
            out["errors"][name] = f"{type(exc).__name__}: {exc}"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impls", required=True, help=f"comma-separated, of: {', '.join(IMPLS)}")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (0: none)")
    parser.add_argument("--round-s", type=float, default=0.3, help="seconds per round")
    parser.add_argument("--latency", default="", help="concurrency levels, e.g. 1,100,1000")
    parser.add_argument("--min-turns", type=int, default=20, help="turns per latency run, at least")
    parser.add_argument("--budget-s", type=float, default=30, help="time limit per latency run")
    args = parser.parse_args(argv)
    unknown = set(args.impls.split(",")) - set(IMPLS)
    if unknown:
        parser.error(f"unknown --impls {', '.join(sorted(unknown))} (known: {', '.join(IMPLS)})")
    print(json.dumps(asyncio.run(main_async(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
