"""Background queues at the edges of their life: an event loop that ends, a reset or
restore, a worker that cannot start, queues waiting for each other, the last drops."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from llmgine.messages import BackgroundError, Event, SubscriberError
from llmgine.messages import _background_reports as reports_module
from llmgine.messages.bus import MessageBus

from .background_helpers import PATIENCE, Gate, Tick
from .test_background_async import AsyncGate, run


@dataclass
class Echo(Event):
    """What one background subscriber publishes to the other."""

    n: int


@dataclass
class Leaked(Event):
    """What a background subscriber queues while it handles an event."""

    n: int


def finishes(call: Callable[[], Any]) -> Any:
    """Run ``call`` in a thread and return its result; fail (naming it) if it hangs.

    A hang guard, not a speed requirement: without it a deadlock would hang the suite.
    """
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = call()
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(PATIENCE)
    assert not thread.is_alive(), f"{call} never returned"
    if "error" in result:
        raise result["error"]
    return result.get("value")


def leave_events_on_a_loop(bus: MessageBus, *, unsubscribe: bool) -> Any:
    """An async background subscriber gets events on a loop that ends without draining."""
    gate = AsyncGate()
    subs: list[Any] = []

    async def leave() -> None:
        subs.append(bus.subscribe_event(Tick, gate, background=True))
        for n in range(3):
            await bus.emit_async(Tick(n))
        await asyncio.wait_for(gate.started.wait(), PATIENCE)
        if unsubscribe:  # removed while its loop still runs: the loop then ends
            subs[0].unsubscribe()

    run(leave())
    return subs[0]


@pytest.mark.parametrize("how", ["unsubscribe", "unsubscribe_on_the_loop", "reset", "restore"])
def test_the_queue_of_a_removed_subscription_whose_loop_closed_does_not_stall_the_bus(
    bus: MessageBus, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    snapshot = bus.snapshot()
    sub = leave_events_on_a_loop(bus, unsubscribe=how == "unsubscribe_on_the_loop")
    assert sub.pending == 3  # (the one being handled went back to the front)
    if how == "unsubscribe":
        sub.unsubscribe()
    elif how == "reset":
        bus.reset()
    elif how == "restore":
        snapshot.restore()
    got: list[int] = []
    bus.subscribe_event(Tick, lambda e: got.append(e.n), background=True)
    bus.emit(Tick(7))
    with caplog.at_level(logging.WARNING, "llmgine.bus"):
        bus.drain()  # the events nothing can run are discarded, and logged once
        bus.close()
        bus.drain()
    assert got == [7]
    assert sub.pending == 0
    discards = [r.getMessage() for r in caplog.records if "discarded 3" in r.getMessage()]
    assert len(discards) == 1

    async def later() -> None:
        await bus.emit_async(Tick(8))
        await bus.aclose()

    run(later())
    assert got == [7, 8]


def test_an_active_subscription_keeps_its_events_for_the_next_loop(bus: MessageBus) -> None:
    sub = leave_events_on_a_loop(bus, unsubscribe=False)
    with pytest.raises(BackgroundError, match="3 event"):
        bus.drain()  # still subscribed: a publish on a running loop runs them
    assert sub.pending == 3


@pytest.mark.parametrize("how", ["reset", "restore"])
def test_reset_and_restore_isolate_what_removed_workers_still_do(
    bus: MessageBus, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    snapshot = bus.snapshot()
    gate = Gate()

    def slow(event: Tick) -> None:
        gate(event)
        bus.add_pending_event(Leaked(event.n))

    bus.subscribe_event(Tick, slow, background=True)
    bus.emit(Tick(1))
    bus.emit(Tick(2))  # queued behind the first
    assert gate.started.wait(PATIENCE)
    with caplog.at_level(logging.WARNING, "llmgine.bus"):
        if how == "reset":
            bus.reset()
        else:
            snapshot.restore()
        leaked: list[Event] = []
        bus.subscribe_event(Leaked, leaked.append)  # the next test's subscriber
        gate.open.set()
        bus.drain()
    assert gate.got == [1]  # the queued event was discarded...
    assert leaked == []  # ...and what the one being handled queued is not published
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "discarded 1 queued event(s)" in messages
    assert "the events it queued are not published" in messages


def test_a_strict_failure_kept_for_drain_does_not_survive_reset_or_restore(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = MessageBus.isolated(strict=True)
    snapshot = bus.snapshot()

    def boom(event: Tick) -> None:
        raise ValueError("from the first test")

    bus.subscribe_event(Tick, boom, background=True)
    bus.emit(Tick(1))
    with caplog.at_level(logging.WARNING, "llmgine.bus"):
        snapshot.restore()
        bus.reset()
        got: list[int] = []
        bus.subscribe_event(Tick, lambda e: got.append(e.n), background=True)
        bus.emit(Tick(2))
        bus.drain()  # not the first test's failure
    assert got == [2]
    assert "from the first test" in caplog.text  # logged, not lost


def test_a_strict_failure_of_a_subscriber_a_restore_keeps_is_still_raised() -> None:
    bus = MessageBus.isolated(strict=True)

    def boom(event: Tick) -> None:
        raise ValueError("still subscribed")

    bus.subscribe_event(Tick, boom, background=True)
    snapshot = bus.snapshot()
    bus.emit(Tick(1))
    snapshot.restore()  # (before or after the failure was kept: it is kept either way)
    with pytest.raises(SubscriberError) as info:
        bus.drain()
    assert isinstance(info.value.exceptions[0], ValueError)


def test_a_worker_that_cannot_start_fails_the_event_and_leaves_nothing_queued(
    bus: MessageBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors: list[Event] = []
    bus.subscribe_event("system.bus.error", errors.append)
    got: list[int] = []
    sub = bus.subscribe_event(Tick, lambda e: got.append(e.n), background=True)

    def cannot(thread: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", cannot)
    bus.emit(Tick(1))  # reported as the subscriber's failure...
    monkeypatch.undo()
    assert len(errors) == 1
    assert "can't start new thread" in errors[0].details["error"]  # type: ignore[attr-defined]
    assert sub.pending == 0  # ...and not left on a queue without a worker
    finishes(bus.drain)
    bus.emit(Tick(2))  # the next event starts a worker
    finishes(bus.drain)
    assert got == [2]


def test_background_subscribers_waiting_for_each_other_fail_instead_of_deadlocking(
    bus: MessageBus,
) -> None:
    errors: list[Event] = []
    bus.subscribe_event("system.bus.error", errors.append)
    gate_a, gate_b = Gate(), Gate()

    def on_a(event: Tick) -> None:
        gate_a(event)
        if event.n == 0:
            bus.emit(Echo(100))  # B's queue is full

    def on_b(event: Echo) -> None:
        gate_b(Tick(event.n))
        if event.n == 0:
            bus.emit(Tick(100))  # A's queue is full

    bus.subscribe_event(Tick, on_a, background=True, max_pending=1)
    bus.subscribe_event(Echo, on_b, background=True, max_pending=1)
    bus.emit(Tick(0))
    bus.emit(Echo(0))
    assert gate_a.started.wait(PATIENCE)
    assert gate_b.started.wait(PATIENCE)
    bus.emit(Tick(1))  # both queues full, both workers about to publish to the other
    bus.emit(Echo(1))
    gate_a.open.set()
    gate_b.open.set()
    finishes(bus.drain)
    assert len(errors) == 1  # the second to wait would close the cycle: it fails
    assert "each other" in errors[0].details["error"]  # type: ignore[attr-defined]
    assert gate_a.got[:2] == [0, 1]
    assert gate_b.got[:2] == [0, 1]
    assert len(gate_a.got) + len(gate_b.got) == 5  # one of the two events was refused


def test_drops_not_reported_yet_are_reported_by_drain(
    bus: MessageBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports_module, "monotonic", lambda: 1000.0)  # (one second for ever)
    warnings: list[Event] = []
    bus.subscribe_event("system.bus.warning", warnings.append)
    gate = Gate()
    sub = bus.subscribe_event(Tick, gate, background=True, max_pending=1, overflow="drop_oldest")
    bus.emit(Tick(0))
    assert gate.started.wait(PATIENCE)
    for n in range(1, 101):
        bus.emit(Tick(n))
    assert [w.details["dropped"] for w in warnings] == [1]  # type: ignore[attr-defined]
    gate.open.set()
    bus.close()
    details = [w.details for w in warnings]  # type: ignore[attr-defined]
    assert [(d["dropped"], d["total_dropped"]) for d in details] == [(1, 1), (98, 99)]
    assert sub.dropped == 99
    assert details[1]["event_type"] == "Tick"
    bus.drain()
    assert len(warnings) == 2  # reported once


def test_a_deliver_from_a_thread_returns_when_the_subscribers_loop_ends(bus: MessageBus) -> None:
    gate = AsyncGate()
    result: list[Any] = []
    consumer: list[threading.Thread] = []

    async def main() -> None:
        sub = bus.subscribe_event(Tick, gate, background=True)
        thread = threading.Thread(target=lambda: result.append(bus.deliver(Tick(1))))
        thread.start()
        consumer.append(thread)
        await asyncio.wait_for(gate.started.wait(), PATIENCE)
        assert sub.pending == 0  # being handled when the loop ends

    run(main())
    consumer[0].join(PATIENCE)
    assert not consumer[0].is_alive(), "deliver() still waits for a loop that has ended"
    ((_subscriber, error),) = result[0]
    assert isinstance(error, BackgroundError)
    assert "event loop ended" in str(error)
    bus.drain()  # it left the queue: the transport delivers it again
