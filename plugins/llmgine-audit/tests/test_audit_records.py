"""What the audit log holds: one JSON line per event, with its metadata and fields."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event, ResourceCreatedEvent, SystemEvent

ReadLog = Callable[[], list[dict[str, Any]]]


@dataclass
class Shipped(Command[None]):
    order: str


@dataclass
class OrderShipped(Event):
    order: str
    when: datetime
    tags: set[str] = field(default_factory=set)
    extra: object = None


@attrs.frozen
class Odd(Event):
    value: object


def test_every_event_of_a_dispatch_is_one_line_with_metadata_class_and_fields(
    bus: MessageBus, read_log: ReadLog
) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    queued: list[Event] = []

    def ship(command: Shipped) -> None:
        for event in (
            ResourceCreatedEvent(
                resource_id="res_1", resource_type="order", resource_data={"a": 1}
            ),
            OrderShipped(order=command.order, when=when, tags={"b", "a"}, extra=Path("/x")),
        ):
            queued.append(event)
            bus.add_pending_event(event)

    bus.register_command(Shipped, ship)
    command = Shipped("o-1")
    bus.dispatch(command)

    created, shipped = read_log()
    assert created == {
        "event_type": "resource.created",
        "event_id": queued[0].event_id,
        "timestamp": queued[0].timestamp.isoformat(),
        "correlation_id": command.command_id,
        "causation_id": command.command_id,
        "class": "llmgine.messages.events.ResourceCreatedEvent",
        "data": {"resource_id": "res_1", "resource_type": "order", "resource_data": {"a": 1}},
    }
    assert datetime.fromisoformat(created["timestamp"]) == queued[0].timestamp
    assert shipped["event_type"] == "OrderShipped"
    assert shipped["class"] == f"{OrderShipped.__module__}.OrderShipped"
    assert shipped["data"] == {
        "order": "o-1",
        "when": "2026-01-02T03:04:05+00:00",
        "tags": ["a", "b"],
        "extra": "/x",
    }


def test_system_events_keep_their_type_and_fields(bus: MessageBus, read_log: ReadLog) -> None:
    bus.emit(SystemEvent(component="app", severity="warning", message="hi", details={"k": 1}))
    (line,) = read_log()
    assert line["event_type"] == "system.app.warning"
    assert line["correlation_id"] == line["event_id"]  # emitted on its own
    assert line["causation_id"] is None
    assert line["data"] == {
        "component": "app",
        "severity": "warning",
        "message": "hi",
        "details": {"k": 1},
    }


def test_values_json_cannot_hold_are_written_as_their_repr(
    bus: MessageBus, read_log: ReadLog
) -> None:
    loop: list[object] = []
    loop.append(loop)
    bus.emit(Odd(value=loop))
    bus.emit(Odd(value=math.nan))
    bus.emit(Odd(value={(1, 2): "tuple key"}))
    cyclic, nan, tuple_key = read_log()
    assert cyclic["data"] == {"value": "[[...]]"}
    assert cyclic["data_unserializable"] is True
    assert nan["data"] == {"value": "nan"}
    assert tuple_key["data"] == {"value": "{(1, 2): 'tuple key'}"}
    bus.emit(Odd(value={"fine": [1, 2.5, None, True]}))
    assert "data_unserializable" not in read_log()[-1]


def test_async_publishing_is_logged_too(bus: MessageBus, read_log: ReadLog) -> None:
    asyncio.run(bus.emit_async(Odd(value=1)))
    assert [line["data"] for line in read_log()] == [{"value": 1}]


def test_lines_from_many_threads_never_interleave(bus: MessageBus, log_path: Path) -> None:
    start = threading.Barrier(8)

    def emit(index: int) -> None:
        start.wait()
        for n in range(100):
            bus.emit(Odd(value={"thread": index, "n": n, "pad": "x" * 500}))

    threads = [threading.Thread(target=emit, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = log_path.read_text().splitlines()
    assert len(lines) == 800
    seen = {(d["thread"], d["n"]) for d in (json.loads(line)["data"]["value"] for line in lines)}
    assert len(seen) == 800


@dataclass
class HalfBuilt(Event):
    order: str
    later: str = field(init=False)  # set by whoever emits it, but this one never was


def test_a_field_the_event_never_set_is_written_as_unset(
    bus: MessageBus, read_log: ReadLog
) -> None:
    # event_record raised AttributeError: the subscriber failed and the event was not logged
    bus.emit(HalfBuilt(order="o-1"))
    assert read_log()[0]["data"] == {"order": "o-1", "later": "<unset>"}
