"""Background subscribers drained by a thread: the publisher does not wait, order, overflow
policies with exact drop counts, failures, scopes, middleware, drain/close, lifecycle."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from llmgine.messages import Event, SubscriberError
from llmgine.messages import _background_reports as reports_module
from llmgine.messages import _background_workers as workers_module
from llmgine.messages._scope import reset_scope, session_scope, set_scope
from llmgine.messages.bus import MessageBus

from .background_helpers import Gate, Tick, until, worker_thread
from .threads import race


@dataclass
class Followed(Event):
    n: int


def test_the_publisher_does_not_wait_and_order_is_kept(bus: MessageBus) -> None:
    gate = Gate()
    sub = bus.subscribe_event(Tick, gate, background=True)
    for n in range(200):
        bus.emit(Tick(n))  # returns at once although the subscriber is blocked
    assert gate.got == []
    assert sub.pending >= 199
    gate.open.set()
    bus.drain()
    assert gate.got == list(range(200))
    assert sub.pending == 0
    assert sub.dropped == 0
    assert threading.get_ident() not in gate.threads
    assert len(gate.threads) == 1


def test_emit_from_many_threads_loses_nothing(bus: MessageBus) -> None:
    got: list[tuple[int, int]] = []
    bus.subscribe_event(Tick, lambda e: got.append((e.n // 1000, e.n % 1000)), background=True)

    def publish(base: int) -> None:
        for i in range(300):
            bus.emit(Tick(base * 1000 + i))

    threads = [threading.Thread(target=publish, args=(b,)) for b in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bus.drain()
    assert len(got) == 1200
    for base in range(4):  # each publisher's events in its order
        assert [i for b, i in got if b == base] == list(range(300))


@pytest.mark.parametrize(
    ("overflow", "expected"),
    [("drop_newest", [0, 1, 2, 3]), ("drop_oldest", [0, 8, 9, 10])],
)
def test_drop_policies_drop_exactly_what_does_not_fit(
    bus: MessageBus, overflow: Any, expected: list[int]
) -> None:
    gate = Gate()
    sub = bus.subscribe_event(Tick, gate, background=True, max_pending=3, overflow=overflow)
    bus.emit(Tick(0))
    assert gate.started.wait(30)  # event 0 is being handled: 3 places are free
    for n in range(1, 11):
        bus.emit(Tick(n))
    assert sub.dropped == 7
    assert sub.pending == 3
    gate.open.set()
    bus.drain()
    assert gate.got == expected
    assert sub.dropped == 7


@pytest.mark.parametrize("overflow", ["drop_newest", "drop_oldest", "wait"])
def test_handled_and_dropped_add_up_under_racing_publishers(bus: MessageBus, overflow: Any) -> None:
    gate = Gate()
    if overflow == "wait":
        gate.open.set()  # (else the publishers would wait for ever)
    sub = bus.subscribe_event(Tick, gate, background=True, max_pending=3, overflow=overflow)

    def publisher(base: int) -> Callable[[], None]:
        return lambda: [bus.emit(Tick(base * 1000 + i)) for i in range(150)]  # type: ignore[func-returns-value]

    race(*(publisher(base) for base in range(4)))
    gate.open.set()
    bus.drain()
    assert len(gate.got) + sub.dropped == 600
    if overflow == "wait":
        assert sub.dropped == 0
    else:
        assert len(gate.got) <= 4  # the one being handled when it filled, and 3 queued
    for base in range(4):  # what each publisher got through, in its order
        mine = [n for n in gate.got if n // 1000 == base]
        assert mine == sorted(mine)


def test_wait_blocks_the_publisher_until_there_is_room_and_drops_nothing(bus: MessageBus) -> None:
    gate = Gate()
    sub = bus.subscribe_event(Tick, gate, background=True, max_pending=2)
    bus.emit(Tick(0))
    assert gate.started.wait(30)
    done = threading.Event()

    def publish() -> None:
        for n in range(1, 8):
            bus.emit(Tick(n))
        done.set()

    publisher = threading.Thread(target=publish)
    publisher.start()
    queue = sub.subscriber.background
    until(lambda: queue.waiting == 1, "the publisher to wait for room")  # type: ignore[union-attr]
    assert not done.is_set()  # backpressure: it waits, with 2 events queued
    assert sub.pending == 2
    gate.open.set()
    publisher.join()
    bus.drain()
    assert gate.got == list(range(8))
    assert sub.dropped == 0


def test_close_with_full_queues_and_waiting_publishers_loses_nothing(bus: MessageBus) -> None:
    gates = [Gate(), Gate()]
    subs = [bus.subscribe_event(Tick, g, background=True, max_pending=3) for g in gates]
    closed: list[str] = []
    bus.on_close(lambda: closed.append("closed"))
    bus.emit(Tick(0))
    for gate in gates:
        assert gate.started.wait(30)
    publisher = threading.Thread(target=lambda: [bus.emit(Tick(n)) for n in range(1, 10)])
    publisher.start()
    first = subs[0].subscriber.background
    # the publisher waits for room in the first queue, both full
    until(lambda: first.waiting == 1 and subs[1].pending == 3, "full queues")  # type: ignore[union-attr]
    closing = threading.Thread(target=bus.close)
    closing.start()  # with both queues full and the publisher waiting for room
    for gate in gates:
        gate.open.set()
    closing.join()
    publisher.join()
    bus.drain()
    for gate in gates:
        assert gate.got == list(range(10))
    assert closed == ["closed"]


def test_a_failure_is_reported_and_the_others_go_on(bus: MessageBus) -> None:
    reports: list[Event] = []
    bus.subscribe_event("system.bus.error", reports.append)

    def flaky(event: Tick) -> None:
        if event.n == 1:
            raise ValueError("one is bad")
        handled.append(event.n)

    handled: list[int] = []
    sub = bus.subscribe_event(Tick, flaky, background=True)
    for n in range(3):
        bus.emit(Tick(n))
    bus.drain()
    assert handled == [0, 2]
    (report,) = reports
    assert report.details["subscriber"] == sub.subscriber.name  # type: ignore[attr-defined]
    assert report.details["error"] == "one is bad"  # type: ignore[attr-defined]
    assert report.details["error_type"] == "ValueError"  # type: ignore[attr-defined]


def test_a_strict_bus_raises_the_failure_from_the_next_drain() -> None:
    bus = MessageBus.isolated(strict=True)
    bus.subscribe_event(Tick, lambda e: 1 / e.n, background=True)
    bus.emit(Tick(0))
    bus.emit(Tick(1))
    with pytest.raises(SubscriberError) as info:
        bus.drain()
    assert isinstance(info.value.exceptions[0], ZeroDivisionError)
    bus.drain()  # raised once
    for _ in range(2):
        bus.emit(Tick(0))
    with pytest.raises(ExceptionGroup) as group:
        bus.close()  # close() drains first
    assert len(group.value.exceptions) == 2


def test_pending_events_are_published_after_it_returns_in_the_events_scope(
    bus: MessageBus,
) -> None:
    follow_ups: list[Followed] = []
    bus.subscribe_event(Followed, follow_ups.append)

    def react(event: Tick) -> None:
        bus.add_pending_event(Followed(event.n))
        assert follow_ups == [] or follow_ups[-1].n < event.n  # not before it returns
        if event.n == 2:
            raise RuntimeError("dropped with its pending events")

    bus.subscribe_event(Tick, react, background=True)
    ticks = [Tick(n) for n in range(4)]
    ticks[3].correlation_id = "request-7"
    token = set_scope(session_scope("s-1"))
    try:
        for tick in ticks:
            bus.emit(tick)
    finally:
        reset_scope(token)
    bus.drain()
    assert [f.n for f in follow_ups] == [0, 1, 3]
    for follow_up, tick in zip(follow_ups, [ticks[0], ticks[1], ticks[3]], strict=True):
        assert follow_up.causation_id == tick.event_id
        assert follow_up.correlation_id == tick.correlation_id
        assert follow_up.session_id == "s-1"
    assert follow_ups[-1].correlation_id == "request-7"


def test_event_middleware_wraps_the_real_call_in_the_worker(bus: MessageBus) -> None:
    seen: list[tuple[str, int]] = []

    def middleware(event: Event, call_next: Any) -> Any:
        seen.append((call_next.handler_name, threading.get_ident()))
        return call_next(event)

    gate = Gate()
    gate.open.set()
    sub = bus.subscribe_event(Tick, gate, background=True)
    bus.add_event_middleware(middleware)
    bus.emit(Tick(0))
    bus.drain()
    assert seen == [(sub.subscriber.name, *gate.threads)]
    assert threading.get_ident() not in gate.threads


def test_drop_reports_are_rate_limited_per_subscriber(
    bus: MessageBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(reports_module, "monotonic", lambda: now[0])
    warnings: list[Event] = []
    bus.subscribe_event("system.bus.warning", warnings.append)
    gate = Gate()
    sub = bus.subscribe_event(Tick, gate, background=True, max_pending=1, overflow="drop_newest")
    bus.emit(Tick(0))
    assert gate.started.wait(30)
    bus.emit(Tick(1))  # fits
    for n in range(2, 6):
        bus.emit(Tick(n))  # 4 dropped within the same second: one report, of the first
    assert [w.details["dropped"] for w in warnings] == [1]  # type: ignore[attr-defined]
    now[0] += 0.5
    bus.emit(Tick(6))
    assert len(warnings) == 1
    now[0] += 0.5
    bus.emit(Tick(7))  # a second after the first report: the 5 since
    details = [w.details for w in warnings]  # type: ignore[attr-defined]
    assert [(d["dropped"], d["total_dropped"]) for d in details] == [(1, 1), (5, 6)]
    assert details[0]["subscriber"] == sub.subscriber.name
    assert details[0]["overflow"] == "drop_newest"
    assert details[0]["max_pending"] == 1
    assert warnings[0].causation_id is not None  # published in the publisher's scope
    gate.open.set()
    bus.drain()
    assert gate.got == [0, 1]
    assert sub.dropped == 6


@pytest.fixture
def patient_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Idle workers wait for an hour: only their subscription's removal ends them."""
    monkeypatch.setattr(workers_module, "IDLE_SECONDS", 3600.0)


@pytest.mark.usefixtures("patient_workers")
def test_unsubscribe_while_queued_finishes_the_queue_then_stops(bus: MessageBus) -> None:
    gate = Gate()
    sub = bus.subscribe_event(Tick, gate, background=True)
    for n in range(5):
        bus.emit(Tick(n))
    assert gate.started.wait(30)
    worker = worker_thread(sub)
    sub.unsubscribe()
    bus.emit(Tick(99))  # no longer received
    gate.open.set()
    bus.drain()
    assert gate.got == list(range(5))
    worker.join(30)
    assert not worker.is_alive()


@pytest.mark.usefixtures("patient_workers")
@pytest.mark.parametrize("how", ["reset", "restore"])
def test_reset_and_restore_stop_the_workers(bus: MessageBus, how: str) -> None:
    snapshot = bus.snapshot()
    got: list[int] = []
    sub = bus.subscribe_event(Tick, lambda e: got.append(e.n), background=True)
    bus.emit(Tick(1))
    bus.drain()
    worker = worker_thread(sub)  # idle, waiting for more
    if how == "reset":
        bus.reset()
    else:
        snapshot.restore()
    worker.join(30)
    assert not worker.is_alive()
    assert got == [1]


def test_a_restored_subscription_is_served_again(bus: MessageBus) -> None:
    got: list[int] = []
    sub = bus.subscribe_event(Tick, lambda e: got.append(e.n), background=True)
    snapshot = bus.snapshot()
    sub.unsubscribe()
    snapshot.restore()
    bus.emit(Tick(3))
    bus.drain()
    assert got == [3]
    assert sub.active


def test_drain_inside_a_background_subscriber_is_refused(bus: MessageBus) -> None:
    errors: list[Event] = []
    bus.subscribe_event("system.bus.error", errors.append)
    bus.subscribe_event(Tick, lambda e: bus.drain(), background=True)
    bus.emit(Tick(0))
    bus.drain()
    (report,) = errors
    assert report.details["error_type"] == "llmgine.messages.errors.BackgroundError"  # type: ignore[attr-defined]
    assert "would wait for itself" in report.details["error"]  # type: ignore[attr-defined]


def test_publishing_to_its_own_full_queue_is_refused(bus: MessageBus) -> None:
    errors: list[Event] = []
    bus.subscribe_event("system.bus.error", errors.append)
    got: list[int] = []

    def echo(event: Tick) -> None:
        got.append(event.n)
        if event.n == 0:
            bus.emit(Tick(1))  # fits
            bus.emit(Tick(2))  # its own queue is full: waiting would wait for itself

    bus.subscribe_event(Tick, echo, background=True, max_pending=1)
    bus.emit(Tick(0))
    bus.drain()
    assert got == [0, 1]
    (report,) = errors
    assert report.details["error_type"] == "llmgine.messages.errors.BackgroundError"  # type: ignore[attr-defined]
    assert "would wait for itself" in report.details["error"]  # type: ignore[attr-defined]


def test_settings_are_checked_with_clear_errors(bus: MessageBus) -> None:
    def noop(event: Event) -> None:
        pass

    with pytest.raises(ValueError, match="max_pending must be at least 1, got 0"):
        bus.subscribe_event(Tick, noop, background=True, max_pending=0)
    with pytest.raises(TypeError, match=r"max_pending must be an int .* got True"):
        bus.subscribe_event(Tick, noop, background=True, max_pending=True)
    with pytest.raises(TypeError, match=r"max_pending must be an int .* got '5'"):
        bus.subscribe_event(Tick, noop, background=True, max_pending="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"overflow must be one of 'wait', .* got 'block'"):
        bus.subscribe_event(Tick, noop, background=True, overflow="block")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="at_most_once must be True or False, got 1"):
        bus.subscribe_event(Tick, noop, background=True, at_most_once=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pass background=True too"):
        bus.subscribe_event(Tick, noop, max_pending=5)
    assert bus.subscriptions == ()


def test_the_subscription_shows_its_queue(bus: MessageBus) -> None:
    def log(event: Event) -> None:
        pass

    sub = bus.subscribe_event(Tick, log, background=True, at_most_once=True)
    plain = bus.subscribe_event(Tick, print)
    assert sub.background
    assert not plain.background
    assert (sub.dropped, sub.pending, plain.dropped, plain.pending) == (0, 0, 0, 0)
    assert repr(sub).endswith(" background>")
    assert sub.subscriber.name.endswith("log")
    plan = bus.subscribers_for(Tick(0))
    assert plan.waits_for == ()  # at most once: a transport does not wait for it
    other = bus.subscribe_event(Tick, lambda e: None, background=True)
    assert bus.subscribers_for(Tick(0)).waits_for == (other.subscriber,)
