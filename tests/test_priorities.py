"""Subscriber priorities: higher runs first, ties in subscription order, across exact,
class and pattern subscriptions, on every publishing path, and through the plugin hook."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import llmgine
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event
from llmgine.plugins import PluginLoadError, register_handlers, register_plugin
from llmgine.testing import LoadPlugin

from .fake_dists import install_fake_plugin
from .threads import race


@dataclasses.dataclass
class Tagged(Event):
    event_type = "doc.tagged"
    tag: str = "t"


@dataclasses.dataclass
class Urgent(Tagged):
    """A subclass under another name: matched by ``Tagged`` (the class), not by its name."""

    event_type = "doc.urgent"


@dataclasses.dataclass
class Tag(Command[str]):
    tag: str = "t"


def recorder(seen: list[str], name: str) -> Callable[[Event], None]:
    def record(event: Event) -> None:
        seen.append(name)

    record.__qualname__ = f"record_{name}"
    return record


def names(bus: MessageBus, event: Event) -> list[str]:
    """The subscribers' names of ``event``'s plan, short (``record_<name>``)."""
    return [s.name.rsplit(".", 1)[-1] for s in bus.subscribers_for(event).subscribers]


# Order ---------------------------------------------------------------------------------


def test_higher_priority_runs_first_and_ties_keep_subscription_order(bus: MessageBus) -> None:
    seen: list[str] = []
    for name, priority in [("a", 0), ("b", 5), ("c", -3), ("d", 5), ("e", 0), ("f", 10)]:
        bus.subscribe_event(Tagged, recorder(seen, name), priority=priority)
    bus.emit(Tagged())
    assert seen == ["f", "b", "d", "a", "e", "c"]
    assert names(bus, Tagged()) == [f"record_{n}" for n in seen]


def test_exact_class_and_pattern_subscriptions_share_one_order(bus: MessageBus) -> None:
    seen: list[str] = []
    bus.subscribe_event("*", recorder(seen, "everything"), priority=-1)
    bus.subscribe_event("doc.*", recorder(seen, "pattern"), priority=1)
    bus.subscribe_event(Tagged, recorder(seen, "class"), priority=5)
    bus.subscribe_event("doc.urgent", recorder(seen, "exact"), priority=3)
    bus.subscribe_event("doc.**", recorder(seen, "deep"))  # 0
    bus.emit(Urgent())
    assert seen == ["class", "exact", "pattern", "deep", "everything"]
    seen.clear()
    bus.emit(Tagged())  # not doc.urgent: the exact one is not in it
    assert seen == ["class", "pattern", "deep", "everything"]


def test_a_subscriber_matched_twice_runs_once_at_its_highest_priority(bus: MessageBus) -> None:
    seen: list[str] = []
    twice = recorder(seen, "twice")
    low = bus.subscribe_event("doc.tagged", twice, priority=-5)
    bus.subscribe_event("middle", recorder(seen, "unrelated"))  # another type: not in the plan
    bus.subscribe_event(Tagged, recorder(seen, "middle"), priority=0)
    high = bus.subscribe_event("doc.*", twice, priority=10)
    bus.emit(Tagged())
    assert seen == ["twice", "middle"]
    # Without its high subscription it falls back to the priority of the other one.
    high.unsubscribe()
    seen.clear()
    bus.emit(Tagged())
    assert seen == ["middle", "twice"]
    low.unsubscribe()
    seen.clear()
    bus.emit(Tagged())
    assert seen == ["middle"]


def test_equal_highest_priorities_keep_the_earlier_subscription_place(bus: MessageBus) -> None:
    seen: list[str] = []
    twice = recorder(seen, "twice")
    bus.subscribe_event("doc.*", twice, priority=2)
    bus.subscribe_event(Tagged, recorder(seen, "other"), priority=2)
    bus.subscribe_event(Tagged, twice, priority=2)  # same priority, later: the first place wins
    bus.emit(Tagged())
    assert seen == ["twice", "other"]


def test_a_bound_method_counts_as_one_subscriber(bus: MessageBus) -> None:
    class Listener:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def on(self, event: Event) -> None:
            self.seen.append(event.event_type)

    listener = Listener()
    seen: list[str] = []
    bus.subscribe_event(Tagged, listener.on, priority=1)
    bus.subscribe_event(Tagged, recorder(seen, "between"))
    bus.subscribe_event("doc.tagged", listener.on, priority=3)  # a new bound-method object
    assert names(bus, Tagged()) == ["on", "record_between"]
    bus.emit(Tagged())
    assert listener.seen == ["doc.tagged"]


def test_a_new_subscription_takes_its_place_from_the_next_event(bus: MessageBus) -> None:
    seen: list[str] = []
    bus.subscribe_event(Tagged, recorder(seen, "first"))
    bus.emit(Tagged())  # (the plan is cached now)
    bus.subscribe_event(Tagged, recorder(seen, "urgent"), priority=100)
    bus.emit(Tagged())
    assert seen == ["first", "urgent", "first"]


def test_the_subscription_keeps_its_priority(bus: MessageBus) -> None:
    default = bus.subscribe_event(Tagged, print)
    high = bus.subscribe_event("doc.*", repr, priority=7)
    assert (default.priority, high.priority) == (0, 7)
    assert "priority" not in repr(default)
    assert "priority=7" in repr(high)


def test_an_int_enum_is_a_priority() -> None:
    class Level(enum.IntEnum):
        LOW = -1
        HIGH = 10

    bus = MessageBus.isolated()
    seen: list[str] = []
    bus.subscribe_event(Tagged, recorder(seen, "low"), priority=Level.LOW)
    sub = bus.subscribe_event(Tagged, recorder(seen, "high"), priority=Level.HIGH)
    bus.emit(Tagged())
    assert seen == ["high", "low"]
    assert sub.priority.__class__ is int


@pytest.mark.parametrize("priority", ["high", 1.5, None, True, False, [1]])
def test_a_priority_that_is_no_int_is_refused(bus: MessageBus, priority: Any) -> None:
    bus.subscribe_event(Tagged, print)
    before = bus.subscriptions
    with pytest.raises(TypeError, match=r"priority must be an int \(higher runs first") as error:
        bus.subscribe_event(Tagged, repr, priority=priority)
    assert repr(priority) in str(error.value)
    if isinstance(priority, bool):
        assert "(a bool)" in str(error.value)
    assert bus.subscriptions == before


# Every publishing path -------------------------------------------------------------------


def test_pending_events_of_a_dispatch_go_in_priority_order(bus: MessageBus) -> None:
    seen: list[str] = []
    bus.register_command(Tag, lambda c: bus.add_pending_event(Tagged(c.tag)) or "ok")
    bus.subscribe_event(Tagged, recorder(seen, "low"), priority=-1)
    bus.subscribe_event(Tagged, recorder(seen, "high"), priority=1)
    assert bus.dispatch(Tag()) == "ok"
    assert asyncio.run(bus.dispatch_async(Tag())) == "ok"
    assert seen == ["high", "low", "high", "low"]


def test_emit_async_starts_async_subscribers_in_priority_order(bus: MessageBus) -> None:
    seen: list[str] = []

    def make(name: str) -> Callable[[Event], Any]:
        async def start(event: Event) -> None:
            seen.append(name)  # its first step: before any await
            await asyncio.sleep(0)

        start.__qualname__ = f"start_{name}"
        return start

    for name, priority in [("a", 0), ("b", 3), ("c", -2), ("d", 3), ("e", 9)]:
        bus.subscribe_event(Tagged, make(name), priority=priority)
    asyncio.run(bus.emit_async(Tagged()))
    assert seen == ["e", "b", "d", "a", "c"]


def test_emit_async_runs_plain_subscribers_in_priority_order_too(bus: MessageBus) -> None:
    plain: list[str] = []
    started: list[str] = []

    async def slow(event: Event) -> None:
        started.append("slow")

    bus.subscribe_event(Tagged, recorder(plain, "low"), priority=-1)
    bus.subscribe_event(Tagged, slow, priority=5)
    bus.subscribe_event(Tagged, recorder(plain, "high"), priority=2)
    asyncio.run(bus.emit_async(Tagged()))
    assert plain == ["high", "low"]
    assert started == ["slow"]
    assert names(bus, Tagged()) == ["slow", "record_high", "record_low"]


def test_a_transport_delivery_keeps_priority_order(bus: MessageBus) -> None:
    seen: list[str] = []
    bus.subscribe_event(Tagged, recorder(seen, "low"))
    bus.subscribe_event(Tagged, recorder(seen, "high"), priority=1)
    assert bus.deliver(Tagged()) == []
    assert asyncio.run(bus.deliver_async(Tagged())) == []
    assert seen == ["high", "low", "high", "low"]


def test_event_middleware_wraps_subscribers_in_priority_order(bus: MessageBus) -> None:
    seen: list[str] = []
    wrapped: list[str] = []

    def middleware(event: Event, call_next: Any) -> Any:
        wrapped.append(call_next.handler_name.rsplit(".", 1)[-1])
        return call_next(event)

    async def amiddleware(event: Event, call_next: Any) -> Any:
        wrapped.append("async " + call_next.handler_name.rsplit(".", 1)[-1])
        return await call_next(event)

    bus.subscribe_event(Tagged, recorder(seen, "low"), priority=-1)
    bus.add_event_middleware(middleware)
    bus.subscribe_event("doc.*", recorder(seen, "high"), priority=4)
    bus.subscribe_event(Tagged, recorder(seen, "mid"))
    bus.emit(Tagged())
    assert seen == ["high", "mid", "low"]
    assert wrapped == ["record_high", "record_mid", "record_low"]
    bus.add_event_middleware(amiddleware)
    seen.clear()
    wrapped.clear()
    asyncio.run(bus.emit_async(Tagged()))
    assert seen == ["high", "mid", "low"]
    assert wrapped == ["async record_high", "async record_mid", "async record_low"]


def test_a_failing_high_priority_subscriber_does_not_stop_the_others() -> None:
    bus = MessageBus.isolated()
    seen: list[str] = []
    reports: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("first and broken")

    bus.subscribe_event(Tagged, recorder(seen, "low"), priority=-1)
    bus.subscribe_event(Tagged, broken, priority=100)
    bus.subscribe_event("system.bus.error", reports.append)
    bus.emit(Tagged())
    assert seen == ["low"]
    assert len(reports) == 1


# Concurrency and the model -----------------------------------------------------------


def test_subscriptions_from_several_threads_end_in_priority_then_subscription_order(
    bus: MessageBus,
) -> None:
    def subscribe(base: int) -> Callable[[], None]:
        def run() -> None:
            for i in range(50):
                bus.subscribe_event(Tagged, recorder([], f"{base}_{i}"), priority=(base + i) % 4)

        return run

    race(subscribe(0), subscribe(1), subscribe(2))
    subs = bus.subscriptions
    want = sorted(subs, key=lambda s: (-s.priority, s.seq))
    assert [s.subscriber for s in want] == list(bus.subscribers_for(Tagged()).subscribers)
    assert len(subs) == 150


@cache
def event_class(name: str) -> type[Event]:
    return type(f"E_{name.replace('.', '_')}", (Event,), {"event_type": name})


KEYS = ["x.a", "x.b", "x.*", "*", "x.**", "E_x_a"]
subscriptions = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(KEYS), st.integers(-2, 2)),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(subscriptions, st.sampled_from(["x.a", "x.b"]))
def test_plan_order_matches_the_rule(subs: list[tuple[int, str, int]], published: str) -> None:
    """For any mix of subscriptions: each callable once, ordered by its best (priority,
    subscription order) among the subscriptions that match."""
    bus = MessageBus.isolated()
    handlers = [recorder([], f"h{i}") for i in range(4)]
    cls = event_class(published)
    best: dict[int, tuple[int, int]] = {}
    for seq, (which, key, priority) in enumerate(subs):
        subscribed_to: Any = event_class("x.a") if key == "E_x_a" else key
        bus.subscribe_event(subscribed_to, handlers[which], priority=priority)
        by_class = key == "E_x_a" and published == "x.a"
        if by_class or key in ("*", "x.*", "x.**", published):
            best[which] = min(best.get(which, (3, seq)), (-priority, seq))
    expected = [handlers[i] for i in sorted(best, key=best.__getitem__)]
    assert list(bus.subscribers_for(cls()).handlers) == expected


# Through the plugin hook -----------------------------------------------------------------


uses_plugins = pytest.mark.usefixtures("no_installed_plugins")


class PriorityPlugin:
    """A plugin whose subscriber must run before the application's."""

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    @llmgine.hookimpl
    def register_subscribers(self, subscribe: llmgine.plugins.Subscribe) -> None:
        subscribe(Tagged, self.first, priority=10)
        subscribe("doc.*", self.last, priority=-10)

    def first(self, event: Tagged) -> None:
        self.seen.append("plugin first")

    def last(self, event: Event) -> None:
        self.seen.append("plugin last")


@uses_plugins
def test_a_plugin_subscribes_with_priorities_through_the_hook() -> None:
    seen: list[str] = []
    bus = MessageBus.isolated(strict=True)
    bus.subscribe_event(Tagged, recorder(seen, "app"))  # before the plugin: still after it
    register_plugin(PriorityPlugin(seen), "priorities")
    register_handlers(bus)
    bus.emit(Tagged())
    assert seen == ["plugin first", "app", "plugin last"]
    assert sorted(s.priority for s in bus.subscriptions) == [-10, 0, 10]


class BadKeywordPlugin:
    @llmgine.hookimpl
    def register_subscribers(self, subscribe: Any) -> None:
        subscribe(Tagged, print, priority=1)
        subscribe(Tagged, repr, priority="first")


@uses_plugins
def test_a_bad_priority_in_the_hook_fails_the_plugin_and_undoes_it() -> None:
    bus = MessageBus.isolated()
    register_plugin(BadKeywordPlugin(), "bad-priority")
    with pytest.raises(PluginLoadError, match="bad-priority") as error:
        register_handlers(bus)
    assert "priority must be an int" in str(error.value.__cause__ or error.value)
    assert bus.subscriptions == ()


def test_llmgine_load_plugin_with_priorities(
    llmgine_bus: MessageBus, llmgine_load_plugin: LoadPlugin
) -> None:
    seen: list[str] = []
    llmgine_bus.subscribe_event("doc.tagged", recorder(seen, "app"), priority=1)
    llmgine_load_plugin(PriorityPlugin(seen))
    llmgine_bus.emit(Tagged())
    assert seen == ["plugin first", "app", "plugin last"]


INSTALLED = """\
import llmgine

SEEN = []

@llmgine.hookimpl
def register_subscribers(subscribe):
    subscribe("doc.*", lambda event: SEEN.append("late"), priority=-1)
    subscribe("doc.tagged", lambda event: SEEN.append("early"), priority=5)
"""


@uses_plugins
def test_an_installed_plugin_subscribes_with_priorities(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_plugin(monkeypatch, tmp_path, "priority-order", INSTALLED)
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "priority-order")
    bus = MessageBus.isolated(strict=True)
    try:
        (info,) = register_handlers(bus)
        assert (info.name, info.distribution, info.error) == (
            "priority-order",
            "llmgine-priority-order",
            None,
        )
        module = sys.modules["llmgine_priority_order"]
        bus.subscribe_event(Tagged, lambda event: module.SEEN.append("app"))
        bus.emit(Tagged())
        assert module.SEEN == ["early", "app", "late"]
        assert [s.priority for s in bus.subscriptions] == [-1, 5, 0]
    finally:
        sys.modules.pop("llmgine_priority_order", None)
