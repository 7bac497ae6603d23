"""bus.add_event_observer: a callable that sees every event the bus publishes (for metrics)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from llmgine.messages import (
    AsyncHandlerError,
    Command,
    Event,
    EventCascadeError,
    MessageBus,
    SubscriberError,
    Subscription,
)


class Seen(Event):
    event_type = "obs.seen"


class Queued(Event):
    event_type = "obs.queued"


class Go(Command[None]):
    pass


def test_an_observer_sees_every_event_by_every_path_before_its_subscribers() -> None:
    bus = MessageBus.isolated()
    order: list[str] = []
    bus.add_event_observer(lambda event: order.append(f"observed {event.event_type}"))
    bus.subscribe_event("obs.seen", lambda event: order.append("subscriber"))
    bus.register_command(Go, lambda command: bus.add_pending_event(Queued()))

    bus.emit(Seen())  # with a subscriber
    bus.dispatch(Go())  # queued by a handler, no subscriber
    asyncio.run(bus.emit_async(Seen()))
    bus.deliver(Seen())  # from a transport
    assert order == [
        "observed obs.seen",
        "subscriber",
        "observed obs.queued",
        "observed obs.seen",
        "subscriber",
        "observed obs.seen",
        "subscriber",
    ]


def test_failure_reports_are_observed_too() -> None:
    bus = MessageBus.isolated()
    seen: list[str] = []
    bus.add_event_observer(lambda event: seen.append(event.event_type))

    def broken(event: Event) -> None:
        raise ValueError("no")

    bus.subscribe_event("obs.seen", broken)
    bus.emit(Seen())
    assert seen == ["obs.seen", "system.bus.error"]


def test_observers_run_in_the_order_added_and_each_remover_takes_only_its_own() -> None:
    bus = MessageBus.isolated()
    seen: list[str] = []
    remove_a = bus.add_event_observer(lambda event: seen.append("a"))
    bus.add_event_observer(lambda event: seen.append("b"))
    bus.emit(Seen())
    remove_a()
    remove_a()  # (again: nothing)
    bus.emit(Seen())
    assert seen == ["a", "b", "b"]


def test_what_an_observer_raises_reaches_the_publisher() -> None:
    # Documented: an observer must not raise (it is no subscriber, so nothing isolates it).
    bus = MessageBus.isolated()

    def bad(event: Event) -> None:
        raise RuntimeError("observer bug")

    bus.add_event_observer(bad)
    with pytest.raises(RuntimeError, match="observer bug"):
        bus.emit(Seen())


def test_an_observer_must_be_callable() -> None:
    with pytest.raises(TypeError, match="add_event_observer\\(\\) needs a callable, got 3"):
        MessageBus.isolated().add_event_observer(3)  # type: ignore[arg-type]


def test_reset_and_snapshots_cover_observers() -> None:
    bus = MessageBus.isolated(strict=True)
    seen: list[str] = []
    bus.add_event_observer(lambda event: seen.append("kept"))
    snapshot = bus.snapshot()
    bus.add_event_observer(lambda event: seen.append("added later"))
    assert snapshot.changed()
    snapshot.restore()
    assert not snapshot.changed()
    bus.emit(Seen())
    assert seen == ["kept"]
    bus.reset()
    bus.emit(Seen())
    assert seen == ["kept"]


def test_a_strict_bus_still_raises_for_subscribers_with_an_observer() -> None:
    bus = MessageBus.isolated(strict=True)
    bus.add_event_observer(lambda event: None)

    def broken(event: Event) -> None:
        raise ValueError("no")

    bus.subscribe_event("obs.seen", broken)
    with pytest.raises(SubscriberError):
        bus.emit(Seen())


def test_a_remover_takes_one_registration_of_a_callable_added_twice() -> None:
    bus = MessageBus.isolated()
    seen: list[str] = []

    def count(event: Event) -> None:
        seen.append(event.event_type)

    remove = bus.add_event_observer(count)
    bus.add_event_observer(count)
    remove()
    bus.emit(Seen())
    assert seen == ["obs.seen"]  # one registration left


def test_an_event_the_bus_refuses_is_not_observed() -> None:
    # An EventCascadeError refuses the event that is one generation too deep (it reaches
    # no subscriber), and emit() refuses one with async subscribers: neither was published.
    bus = MessageBus.isolated(max_cascade_depth=2)
    seen: list[int] = []

    @dataclass
    class Deeper(Event):
        event_type = "obs.deeper"
        n: int

    reached: list[int] = []

    def deeper(event: Deeper) -> None:
        reached.append(event.n)
        bus.emit(Deeper(event.n + 1))

    bus.add_event_observer(lambda event: seen.append(event.n))
    bus.subscribe_event(Deeper, deeper)
    with pytest.raises(EventCascadeError, match="more than 2 generations"):
        bus.emit(Deeper(0))
    assert seen == reached == [0, 1]  # Deeper(2) was refused
    seen.clear()
    reached.clear()
    with pytest.raises(EventCascadeError, match="more than 2 generations"):
        asyncio.run(bus.emit_async(Deeper(0)))
    assert seen == reached == [0, 1]

    async def handles(event: Seen) -> None:
        pass

    refused = MessageBus.isolated()
    observed: list[Event] = []
    refused.add_event_observer(observed.append)
    refused.subscribe_event(Seen, handles)
    with pytest.raises(AsyncHandlerError):
        refused.emit(Seen())
    assert observed == []


class Removals:
    """An observer that also wants to know of the subscriptions removed."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.removed: list[Subscription] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event.event_type)

    def subscription_removed(self, subscription: Subscription) -> None:
        self.removed.append(subscription)


def test_an_observer_with_subscription_removed_is_told_of_every_subscription_removed() -> None:
    bus = MessageBus.isolated()
    observer = Removals()
    bus.add_event_observer(observer)
    bus.add_event_observer(lambda event: None)  # (a plain observer: told nothing)

    one = bus.subscribe_event(Seen, lambda event: None)
    one.unsubscribe()
    one.unsubscribe()  # (gone already: not told again)
    assert observer.removed == [one]
    with bus.session() as session:
        own = session.subscribe_event(Seen, lambda event: None)
        session.emit(Seen())
    assert observer.removed == [one, own]  # its session's end removed it
    assert observer.events[0] == "session.started"
    assert "obs.seen" in observer.events

    snapshot = bus.snapshot()
    kept = bus.subscribe_event(Queued, lambda event: None)
    snapshot.restore()
    assert observer.removed == [one, own, kept]
    later = bus.subscribe_event(Queued, lambda event: None)
    bus.reset()  # (told, then forgotten with the other observers)
    assert observer.removed == [one, own, kept, later]
    bus.subscribe_event(Queued, lambda event: None).unsubscribe()
    assert observer.removed == [one, own, kept, later]

    other = Removals()
    remove = bus.add_event_observer(other)
    remove()  # (removed: told nothing more)
    bus.subscribe_event(Seen, lambda event: None).unsubscribe()
    assert other.removed == []
