"""Subscriptions: by name, class and pattern; order, dedup, unsubscribe, threads."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from llmgine.messages import InvalidPatternError
from llmgine.messages.bus import MessageBus
from llmgine.messages.events import (
    Event,
    ResourceCreatedEvent,
    ResourceDeletedEvent,
    ResourceEvent,
    ResourceUpdatedEvent,
    SystemEvent,
    WorkflowStartedEvent,
)


class Other(Event):
    event_type = "other"


def created() -> ResourceCreatedEvent:
    return ResourceCreatedEvent(resource_id="r", resource_type="t")


def deleted() -> ResourceDeletedEvent:
    return ResourceDeletedEvent(resource_id="r", resource_type="t")


def system(component: str, severity: str) -> SystemEvent:
    return SystemEvent(component=component, severity=severity, message="m")  # type: ignore[arg-type]


def recorder(bus: MessageBus, key: Any) -> list[str]:
    seen: list[str] = []
    bus.subscribe_event(key, lambda e: seen.append(e.event_type))
    return seen


def test_exact_type_name(bus: MessageBus) -> None:
    seen = recorder(bus, "resource.created")
    for event in (created(), deleted(), created()):
        bus.emit(event)
    assert seen == ["resource.created", "resource.created"]


def test_class_subscription_includes_subclasses(bus: MessageBus) -> None:
    seen = recorder(bus, ResourceEvent)
    exact = recorder(bus, ResourceCreatedEvent)
    bus.emit(created())
    bus.emit(ResourceUpdatedEvent(resource_id="r", resource_type="t"))
    bus.emit(deleted())
    bus.emit(WorkflowStartedEvent(workflow_name="w", run_id="r"))
    assert seen == ["resource.created", "resource.updated", "resource.deleted"]
    assert exact == ["resource.created"]


def test_system_event_is_matched_by_its_instance_type_name(bus: MessageBus) -> None:
    errors = recorder(bus, "system.bus.error")
    by_class = recorder(bus, SystemEvent)
    bus.emit(system("bus", "info"))
    bus.emit(system("bus", "error"))
    bus.emit(system("redis", "error"))
    assert errors == ["system.bus.error"]
    assert by_class == ["system.bus.info", "system.bus.error", "system.redis.error"]


def test_bare_star_matches_every_event(bus: MessageBus) -> None:
    seen = recorder(bus, "*")
    bus.emit(created())
    bus.emit(Other())
    bus.emit(system("bus", "debug"))
    assert seen == ["resource.created", "other", "system.bus.debug"]


def test_star_segment_matches_exactly_one_segment(bus: MessageBus) -> None:
    resource = recorder(bus, "resource.*")
    errors = recorder(bus, "system.*.error")
    for event in (created(), deleted(), Other(), system("bus", "error"), system("x", "warning")):
        bus.emit(event)
    assert resource == ["resource.created", "resource.deleted"]
    assert errors == ["system.bus.error"]


def named(type_name: str) -> Event:
    """An event of a throwaway class whose type is ``type_name``."""
    return type("Named", (Event,), {"event_type": type_name})()  # type: ignore[no-any-return]


def test_double_star_matches_one_or_more_segments(bus: MessageBus) -> None:
    seen = recorder(bus, "system.**")
    middle = recorder(bus, "a.**.z")
    for name in ("system.a", "system.a.b.c", "system", "systems.a", "a.z", "a.b.z", "a.b.c.z"):
        bus.emit(named(name))
    bus.emit(system("bus", "error"))
    assert seen == ["system.a", "system.a.b.c", "system.bus.error"]
    assert middle == ["a.b.z", "a.b.c.z"]


@pytest.mark.parametrize(
    "pattern",
    ["", "res*", "resource.*x", "a..b", ".a", "a.", "***", "a.***", "a..*", "*.", "**."],
)
def test_invalid_patterns_raise_naming_the_pattern(bus: MessageBus, pattern: str) -> None:
    with pytest.raises(InvalidPatternError) as info:
        bus.subscribe_event(pattern, print)
    assert repr(pattern) in str(info.value) or "non-empty" in str(info.value)
    assert bus.subscriptions == ()


@pytest.mark.parametrize("key", [42, None, int, object()])
def test_subscribe_rejects_keys_that_are_not_names_patterns_or_event_classes(
    bus: MessageBus, key: Any
) -> None:
    with pytest.raises(TypeError):
        bus.subscribe_event(key, print)


def test_subscribe_rejects_a_non_callable(bus: MessageBus) -> None:
    with pytest.raises(TypeError, match="callable"):
        bus.subscribe_event("x", "not callable")  # type: ignore[arg-type]


def test_subscribers_run_in_subscription_order_across_kinds(bus: MessageBus) -> None:
    order: list[str] = []
    bus.subscribe_event("*", lambda e: order.append("star"))
    bus.subscribe_event(ResourceCreatedEvent, lambda e: order.append("class"))
    bus.subscribe_event("resource.created", lambda e: order.append("name"))
    bus.subscribe_event("resource.*", lambda e: order.append("pattern"))
    bus.subscribe_event(Event, lambda e: order.append("base class"))
    bus.emit(created())
    assert order == ["star", "class", "name", "pattern", "base class"]


def test_a_subscriber_gets_an_event_once_when_several_subscriptions_match(
    bus: MessageBus,
) -> None:
    seen: list[str] = []

    def handler(event: Event) -> None:
        seen.append(event.event_id)

    order: list[str] = []
    bus.subscribe_event("resource.*", handler)
    bus.subscribe_event("*", lambda e: order.append("other"))
    bus.subscribe_event(ResourceCreatedEvent, handler)
    bus.subscribe_event("resource.created", handler)
    event = created()
    bus.emit(event)
    assert seen == [event.event_id]
    [subscriber, _] = bus.subscribers_for(event).subscribers
    assert subscriber.name.endswith("handler")


def test_unsubscribe_stops_delivery_and_is_idempotent(bus: MessageBus) -> None:
    seen: list[str] = []
    subscription = bus.subscribe_event("resource.created", lambda e: seen.append("x"))
    bus.emit(created())
    assert subscription.active
    subscription.unsubscribe()
    subscription.unsubscribe()
    assert not subscription.active
    bus.emit(created())
    assert seen == ["x"]
    assert bus.subscriptions == ()


@pytest.mark.parametrize("asynchronous", [False, True], ids=["emit", "emit_async"])
def test_subscribing_during_a_delivery_takes_effect_from_the_next_event(
    bus: MessageBus, asynchronous: bool
) -> None:
    seen: list[tuple[str, str]] = []
    late: list[Any] = []

    def first(event: ResourceCreatedEvent) -> None:
        seen.append(("first", event.resource_id))
        if event.resource_id == "r1":
            second_subscription.unsubscribe()
            late.append(bus.subscribe_event("resource.created", third))

    def second(event: ResourceCreatedEvent) -> None:
        seen.append(("second", event.resource_id))

    def third(event: ResourceCreatedEvent) -> None:
        seen.append(("third", event.resource_id))

    bus.subscribe_event("resource.created", first)
    second_subscription = bus.subscribe_event("resource.created", second)
    for n in (1, 2):
        event = ResourceCreatedEvent(resource_id=f"r{n}", resource_type="t")
        if asynchronous:
            asyncio.run(bus.emit_async(event))
        else:
            bus.emit(event)
    assert seen == [("first", "r1"), ("second", "r1"), ("first", "r2"), ("third", "r2")]


def test_unsubscribing_one_of_several_matching_subscriptions_keeps_the_others(
    bus: MessageBus,
) -> None:
    seen: list[str] = []

    def handler(event: Event) -> None:
        seen.append(event.event_type)

    first = bus.subscribe_event("resource.*", handler)
    bus.subscribe_event("resource.created", handler)
    first.unsubscribe()
    bus.emit(created())
    bus.emit(deleted())
    assert seen == ["resource.created"]


def test_subscription_works_as_a_context_manager(bus: MessageBus) -> None:
    seen: list[str] = []
    with bus.subscribe_event(Other, lambda e: seen.append("in")) as subscription:
        bus.emit(Other())
    bus.emit(Other())
    assert seen == ["in"]
    assert not subscription.active
    assert "Other" in repr(subscription)


def test_subscribers_for_reports_delivery_order(bus: MessageBus) -> None:
    def first(event: Event) -> None: ...

    def second(event: Event) -> None: ...

    bus.subscribe_event("other", first)
    bus.subscribe_event(Other, second)
    assert bus.subscribers_for(Other()).handlers == (first, second)
    assert bus.subscribers_for(created()).handlers == ()


def test_subscribing_while_another_thread_emits_is_safe(bus: MessageBus) -> None:
    """Subscriptions come and go while a thread emits: no error, no lost stable subscriber."""
    stable: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    bus.subscribe_event("*", lambda e: stable.append(1))
    emitted = 0

    def emit_in_a_loop() -> None:
        nonlocal emitted
        try:
            while not stop.is_set():
                bus.emit(created())
                emitted += 1
        except BaseException as exc:
            errors.append(exc)

    def churn(key: Any) -> Callable[[], None]:
        def run() -> None:
            try:
                for _ in range(300):
                    bus.subscribe_event(key, lambda e: None).unsubscribe()
            except BaseException as exc:
                errors.append(exc)

        return run

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    emitter = threading.Thread(target=emit_in_a_loop)
    churners = [threading.Thread(target=churn(k)) for k in ("resource.*", ResourceEvent, "*")]
    try:
        emitter.start()
        for thread in churners:
            thread.start()
        for thread in churners:
            thread.join()
    finally:
        stop.set()
        emitter.join()
        sys.setswitchinterval(interval)
    assert errors == []
    assert len(stable) == emitted
    assert len(bus.subscriptions) == 1
    late: list[str] = []
    bus.subscribe_event("resource.created", lambda e: late.append("late"))
    bus.emit(created())  # the cache was rebuilt after the churn
    assert late == ["late"]


def test_subscription_exposes_its_key_and_handler(bus: MessageBus) -> None:
    def handler(event: Event) -> None: ...

    subscription = bus.subscribe_event("resource.*", handler)
    assert subscription.key == "resource.*"
    assert subscription.handler is handler
    assert bus.subscriptions == (subscription,)


def test_many_distinct_type_names_keep_matching(bus: MessageBus) -> None:
    """SystemEvent names come from instances; the lookup cache must not grow without bound."""
    seen: list[str] = []
    bus.subscribe_event("system.*.error", lambda e: seen.append(e.component))
    for i in range(5000):
        bus.emit(system(f"c{i}", "info"))
        bus.emit(system(f"c{i}", "error"))
    assert len(seen) == 5000
    assert sum(len(plans) for plans in bus._registry.cache.values()) <= 4096


def _counting(calls: list[str], tag: str, fail: bool = False) -> Callable[[Event], None]:
    def on(event: Event) -> None:  # every closure of this factory has the same qualname
        calls.append(tag)
        if fail:
            raise RuntimeError(tag)

    return on


def test_subscribers_with_the_same_readable_name_get_unique_names(bus: MessageBus) -> None:
    calls: list[str] = []
    first = bus.subscribe_event(Other, _counting(calls, "a"))
    second = bus.subscribe_event(Other, _counting(calls, "b"))
    third = bus.subscribe_event("other", _counting(calls, "c"))
    base = first.subscriber.name
    assert base.endswith("_counting.<locals>.on")
    assert second.subscriber.name == f"{base}#2"
    assert third.subscriber.name == f"{base}#3"
    # the same callable subscribed again is the same subscriber, so keeps its name
    again = bus.subscribe_event("*", second.handler)
    assert again.subscriber.name == f"{base}#2"
    # a name freed by unsubscribing can be taken again
    first.unsubscribe()
    assert bus.subscribe_event(Other, _counting(calls, "d")).subscriber.name == base


class _Callable:
    def __init__(self, hits: list[int]) -> None:
        self.hits = hits

    def __call__(self, event: Event) -> None:
        self.hits.append(id(self))

    def __eq__(self, other: object) -> bool:  # all instances compare equal
        return isinstance(other, _Callable)

    __hash__ = object.__hash__

    def method(self, event: Event) -> None:
        self.hits.append(-id(self))


def test_equal_but_distinct_callables_are_distinct_subscribers(bus: MessageBus) -> None:
    hits: list[int] = []
    one, two = _Callable(hits), _Callable(hits)
    bus.subscribe_event(Other, one)
    bus.subscribe_event(Other, two)
    names = [s.name for s in bus.subscribers_for(Other()).subscribers]
    assert len(set(names)) == 2  # instances of one class: unique names too
    bus.emit(Other())
    assert hits == [id(one), id(two)]


def test_a_bound_method_subscribed_twice_is_one_subscriber(bus: MessageBus) -> None:
    hits: list[int] = []
    obj = _Callable(hits)
    first = bus.subscribe_event(Other, obj.method)
    second = bus.subscribe_event("*", obj.method)  # a new bound-method object
    assert second.subscriber.name == first.subscriber.name
    bus.emit(Other())
    assert hits == [-id(obj)]
