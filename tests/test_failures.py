"""Subscriber failures: isolation, logging, system.bus.error reports, strict mode."""

from __future__ import annotations

import logging

import pytest
from llmgine.messages import SubscriberError
from llmgine.messages.bus import MessageBus
from llmgine.messages.events import Event, SystemEvent


class Ping(Event):
    event_type = "test.ping"


class Boom(Exception):
    pass


def explode(event: Event) -> None:
    raise Boom(f"cannot handle {event.event_type}")


def test_a_failing_subscriber_does_not_stop_the_others(bus: MessageBus) -> None:
    seen: list[str] = []
    bus.subscribe_event(Ping, lambda e: seen.append("before"))
    bus.subscribe_event(Ping, explode)
    bus.subscribe_event(Ping, lambda e: seen.append("after"))
    bus.emit(Ping())  # does not raise
    assert seen == ["before", "after"]


def test_the_failure_is_logged_naming_event_and_subscriber(
    bus: MessageBus, caplog: pytest.LogCaptureFixture
) -> None:
    bus.subscribe_event(Ping, explode)
    event = Ping()
    with caplog.at_level(logging.ERROR, logger="llmgine.bus"):
        bus.emit(event)
    [record] = caplog.records
    message = record.getMessage()
    assert "test_failures.explode" in message
    assert "test.ping" in message
    assert event.event_id in message
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], Boom)


def test_the_bus_emits_a_system_event_about_the_failure(bus: MessageBus) -> None:
    reports: list[SystemEvent] = []
    bus.subscribe_event("system.bus.error", reports.append)
    bus.subscribe_event(Ping, explode)
    event = Ping()
    bus.emit(event)
    [report] = reports
    assert report.event_type == "system.bus.error"
    assert report.component == "bus"
    assert report.severity == "error"
    assert "test_failures.explode" in report.message
    assert report.details["event_id"] == event.event_id
    assert report.details["event_type"] == "test.ping"
    assert report.details["subscriber"].endswith("explode")
    assert report.details["error_type"].endswith("Boom")
    assert report.details["error"] == "cannot handle test.ping"
    assert report.correlation_id == event.correlation_id
    assert report.causation_id == event.event_id


def test_a_failing_report_subscriber_is_logged_without_recursion(
    bus: MessageBus, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def failing_reporter(event: SystemEvent) -> None:
        calls.append(event.event_type)
        raise Boom("reporter broke")

    bus.subscribe_event("system.**", failing_reporter)
    bus.subscribe_event(Ping, explode)
    with caplog.at_level(logging.ERROR, logger="llmgine.bus"):
        bus.emit(Ping())
    assert calls == ["system.bus.error"]  # one report, no report about the report
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "failing_reporter" in messages[1]
    assert "system.bus.error" in messages[1]


def test_a_subscriber_failing_on_every_event_is_reported_once_per_event(
    bus: MessageBus,
) -> None:
    calls: list[str] = []

    def fails_on_everything(event: Event) -> None:
        calls.append(event.event_type)
        raise Boom

    bus.subscribe_event("*", fails_on_everything)
    bus.emit(Ping())
    assert calls == ["test.ping", "system.bus.error"]


def test_strict_mode_raises_after_all_subscribers_ran(llmgine_bus: MessageBus) -> None:
    seen: list[str] = []
    reports: list[Event] = []
    llmgine_bus.subscribe_event("system.**", reports.append)
    llmgine_bus.subscribe_event(Ping, explode)
    llmgine_bus.subscribe_event(Ping, lambda e: seen.append("second"))
    llmgine_bus.subscribe_event(Ping, lambda e: (_ for _ in ()).throw(ValueError("third")))
    llmgine_bus.subscribe_event(Ping, lambda e: seen.append("fourth"))
    event = Ping()
    with pytest.raises(SubscriberError) as info:
        llmgine_bus.emit(event)
    assert seen == ["second", "fourth"]
    error = info.value
    assert error.event is event
    assert error.subscribers[0].endswith("explode")
    assert len(error.subscribers) == 2
    assert [type(e) for e in error.exceptions] == [Boom, ValueError]
    assert "2 subscriber(s) of event 'test.ping' failed" in str(error)
    assert reports == []  # strict mode raises instead of reporting


def test_strict_mode_error_reaches_the_dispatcher(llmgine_bus: MessageBus) -> None:
    import dataclasses

    from llmgine.messages.commands import Command

    @dataclasses.dataclass
    class Go(Command[int]):
        pass

    def handler(command: Go) -> int:
        llmgine_bus.add_pending_event(Ping())
        return 1

    llmgine_bus.register_command(Go, handler)
    llmgine_bus.subscribe_event(Ping, explode)
    with pytest.raises(SubscriberError):
        llmgine_bus.dispatch(Go())


def test_subscriber_error_is_an_exception_group_of_the_failures(llmgine_bus: MessageBus) -> None:
    llmgine_bus.subscribe_event(Ping, explode)
    with pytest.raises(SubscriberError) as info:
        llmgine_bus.emit(Ping())
    assert isinstance(info.value, ExceptionGroup)
    matched, rest = info.value.split(Boom)
    assert matched is not None
    assert rest is None
