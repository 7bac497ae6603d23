"""llmgine.tools: a model's tool calls, validated, dispatched on the bus, answered as JSON."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from llmgine.messages import AsyncHandlerError, Command, Event, MessageBus
from llmgine.tools import Toolbox

from .test_tools import Line, PlaceOrder


@attrs.frozen
class Receipt:
    order_id: uuid.UUID
    at: datetime
    total: float


@dataclass
class Checkout(Command[Receipt]):
    total: float


@dataclass
class GetTime(Command[str]):
    pass


@dataclass
class OrderPlaced(Event):
    order_id: str


def ok(reply: dict[str, Any]) -> Any:
    assert json.loads(json.dumps(reply, allow_nan=False)) == reply  # always JSON
    assert reply["ok"] is True, reply
    return reply["result"]


def error(reply: dict[str, Any], kind: str) -> dict[str, Any]:
    assert json.loads(json.dumps(reply, allow_nan=False)) == reply
    assert reply["ok"] is False, reply
    assert reply["error"]["type"] == kind, reply
    return reply["error"]  # type: ignore[no-any-return]


@pytest.fixture
def orders(bus: MessageBus) -> list[PlaceOrder]:
    placed: list[PlaceOrder] = []

    def place(command: PlaceOrder) -> str:
        placed.append(command)
        bus.add_pending_event(OrderPlaced(order_id=f"o{len(placed)}"))
        return f"o{len(placed)}"

    bus.register_command(PlaceOrder, place)
    bus.register_command(GetTime, lambda command: "12:00")
    return placed


@pytest.fixture
def toolbox(bus: MessageBus) -> Toolbox:
    return Toolbox([PlaceOrder, GetTime, Checkout], bus=bus)


# Arguments ------------------------------------------------------------------------------

ORDER = {"lines": [{"sku": "a", "qty": 2}]}


@pytest.mark.parametrize(
    "arguments",
    [json.dumps(ORDER), json.dumps(ORDER).encode(), ORDER, {**ORDER}.items().mapping],
    ids=["json text", "json bytes", "dict", "mapping"],
)
def test_arguments_come_as_json_text_bytes_or_parsed(
    toolbox: Toolbox, orders: list[PlaceOrder], arguments: Any
) -> None:
    assert ok(toolbox.call("place_order", arguments)) == "o1"
    assert orders == [PlaceOrder(lines=[Line("a", 2)])]


@pytest.mark.parametrize("arguments", [None, "", "  ", b"", "{}", {}])
def test_no_arguments(toolbox: Toolbox, orders: list[PlaceOrder], arguments: Any) -> None:
    assert ok(toolbox.call("get_time", arguments)) == "12:00"


@pytest.mark.parametrize(
    ("arguments", "fields"),
    [
        ('{"lines": [{"sku": "a", "qty": "2"}]}', [("lines[0].qty", 'expected integer, got "2"')]),
        (
            {"lines": [{"sku": "a", "qty": 0}, {"sku": 5, "qty": 1}]},
            # (an attrs validator's error: at the field, or at least at its object)
            [("lines[0]", "must be > 0"), ("lines[1].sku", "expected string, got 5")],
        ),
        ({}, [("lines", "required field missing")]),
        ({**ORDER, "coupon": "x"}, [("coupon", "unknown field")]),
        ({**ORDER, "command_id": "c-1"}, [("command_id", "set by the bus")]),
        ({**ORDER, "session_id": "s-1"}, [("session_id", "set by the bus")]),
        ('{"lines": [', [("", "not valid JSON")]),
        ('{"lines": [{"sku": "a", "qty": NaN}]}', [("", "NaN is not valid JSON")]),
        ("[1, 2]", [("", "expected object, got an array")]),
        ("null", [("", "expected object")]),
        (["lines"], [("", "expected object")]),
        (b"\xff\xfe", [("", "not valid JSON")]),
    ],
)
def test_invalid_arguments_name_every_bad_field_and_dispatch_nothing(
    toolbox: Toolbox, orders: list[PlaceOrder], arguments: Any, fields: list[tuple[str, str]]
) -> None:
    err = error(toolbox.call("place_order", arguments), "invalid_arguments")
    assert len(err["fields"]) == len(fields)
    for got, (path, message) in zip(err["fields"], fields, strict=True):
        assert got["path"].startswith(path), got
        assert message in got["message"], got
        assert (f"{got['path']}: " if path else "") + got["message"] in err["message"]
    assert err["message"].startswith("the arguments of tool 'place_order' are not valid (")
    assert err["message"].endswith("fix them and call it again")
    assert orders == []


def test_an_unknown_tool_is_answered_with_the_tools_there_are(toolbox: Toolbox) -> None:
    err = error(toolbox.call("place_ordr", ORDER), "unknown_tool")
    assert err["message"] == (
        "there is no tool named 'place_ordr'; the tools are ['place_order', 'get_time', 'checkout']"
    )
    error(toolbox.call(None, ORDER), "unknown_tool")  # type: ignore[arg-type]


# Dispatch ---------------------------------------------------------------------------------


def test_a_call_is_a_dispatch_middleware_and_pending_events_apply(
    bus: MessageBus, toolbox: Toolbox, orders: list[PlaceOrder]
) -> None:
    seen: list[str] = []
    published: list[OrderPlaced] = []

    def middleware(message: Command[Any], call_next: Callable[[Any], Any]) -> Any:
        seen.append(type(message).__name__)
        return call_next(message)

    bus.add_command_middleware(middleware)
    bus.subscribe_event(OrderPlaced, published.append)
    assert ok(toolbox.call("place_order", ORDER)) == "o1"
    assert seen == ["PlaceOrder"]
    assert [event.order_id for event in published] == ["o1"]
    assert published[0].correlation_id == orders[0].command_id


def test_a_call_inside_a_session_is_dispatched_in_it(
    bus: MessageBus, toolbox: Toolbox, orders: list[PlaceOrder]
) -> None:
    with bus.session() as session:
        session.register_command(GetTime, lambda command: f"session time {command.session_id}")
        assert ok(toolbox.call("place_order", ORDER)) == "o1"
        assert ok(toolbox.call("get_time", None)) == f"session time {session.id}"
    assert orders[0].session_id == session.id
    assert ok(toolbox.call("get_time", None)) == "12:00"  # the session's handler is gone


def test_a_handler_error_is_answered_and_logged_and_its_events_dropped(
    bus: MessageBus, toolbox: Toolbox, caplog: pytest.LogCaptureFixture
) -> None:
    published: list[Event] = []
    bus.subscribe_event(OrderPlaced, published.append)

    def out_of_stock(command: PlaceOrder) -> str:
        bus.add_pending_event(OrderPlaced(order_id="never"))
        raise LookupError(f"{command.lines[0].sku!r} is out of stock")

    bus.register_command(PlaceOrder, out_of_stock)
    with caplog.at_level(logging.ERROR, logger="llmgine.tools"):
        err = error(toolbox.call("place_order", ORDER), "handler_error")
    assert err == {
        "type": "handler_error",
        "message": "tool 'place_order' failed: LookupError: 'a' is out of stock",
    }
    assert published == []
    (record,) = caplog.records
    assert "the handler of tests.test_tools.PlaceOrder failed" in record.getMessage()
    assert record.exc_info is not None


def test_a_tool_without_a_handler_is_unavailable(toolbox: Toolbox) -> None:
    err = error(toolbox.call("get_time", None), "unavailable")
    assert err["message"] == "tool 'get_time' is not available now (no handler runs it)"


def test_a_missing_handler_further_down_is_the_handler_s_error(
    bus: MessageBus, toolbox: Toolbox
) -> None:
    bus.register_command(GetTime, lambda command: bus.dispatch(Checkout(total=1.0)))
    err = error(toolbox.call("get_time", None), "handler_error")
    assert "CommandHandlerNotFound: no handler registered for command" in err["message"]


def test_results_are_given_as_json_values(bus: MessageBus, toolbox: Toolbox) -> None:
    at = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    order_id = uuid.UUID(int=7)
    bus.register_command(Checkout, lambda command: Receipt(order_id, at, command.total))
    assert ok(toolbox.call("checkout", {"total": 9.5})) == {
        "order_id": str(order_id),
        "at": "2026-12-07T09:30:00+00:00",
        "total": 9.5,
    }
    bus.register_command(GetTime, lambda command: None)
    assert ok(toolbox.call("get_time", None)) is None


@pytest.mark.parametrize(
    ("result", "why"),
    [(object(), "TypeError: Object of type object"), (math.nan, "ValueError: ")],
)
def test_a_result_json_cannot_hold_is_answered_as_ran_but_not_shown(
    bus: MessageBus,
    toolbox: Toolbox,
    caplog: pytest.LogCaptureFixture,
    result: object,
    why: str,
) -> None:
    ran: list[GetTime] = []
    bus.register_command(GetTime, lambda command: ran.append(command) or result)
    with caplog.at_level(logging.ERROR, logger="llmgine.tools"):
        err = error(toolbox.call("get_time", None), "result_not_json")
    assert len(ran) == 1
    assert err["message"].startswith("tool 'get_time' ran and succeeded, but its result cannot")
    assert why in err["message"]
    assert err["message"].endswith("do not call it again for the same request")
    assert "cannot be given as JSON" in caplog.records[0].getMessage()


def test_a_nan_in_a_returned_class_is_not_json_either(bus: MessageBus, toolbox: Toolbox) -> None:
    def checkout(command: Checkout) -> Receipt:
        return Receipt(uuid.UUID(int=1), datetime.now(UTC), command.total * math.inf)

    bus.register_command(Checkout, checkout)
    err = error(toolbox.call("checkout", {"total": 2.5}), "result_not_json")
    assert "Receipt.total: inf is not a JSON number" in err["message"]


def test_sync_call_of_an_async_handler_raises_for_the_host_and_runs_nothing(
    bus: MessageBus, toolbox: Toolbox
) -> None:
    ran: list[GetTime] = []

    async def handler(command: GetTime) -> str:
        ran.append(command)
        return "12:00"

    bus.register_command(GetTime, handler)
    with pytest.raises(AsyncHandlerError, match=r"dispatch_async"):
        toolbox.call("get_time", None)
    assert ran == []
    # its arguments are still checked first: a model's mistake is answered
    error(toolbox.call("get_time", {"x": 1}), "invalid_arguments")


def test_a_sync_handler_dispatching_to_an_async_one_raises_too(
    bus: MessageBus, toolbox: Toolbox
) -> None:
    async def checkout(command: Checkout) -> Receipt:
        return Receipt(uuid.UUID(int=1), datetime.now(UTC), command.total)

    bus.register_command(Checkout, checkout)
    bus.register_command(GetTime, lambda command: bus.dispatch(Checkout(total=1.0)))
    with pytest.raises(AsyncHandlerError, match=r"Checkout is async"):
        toolbox.call("get_time", None)
    # under call_async the same mistake is the outer handler's error
    reply = asyncio.run(toolbox.call_async("get_time", None))
    assert "AsyncHandlerError" in error(reply, "handler_error")["message"]


class Stop(BaseException):
    pass


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit, Stop])
def test_base_exceptions_propagate(bus: MessageBus, toolbox: Toolbox, exc: type) -> None:
    def handler(command: GetTime) -> str:
        raise exc

    bus.register_command(GetTime, handler)
    with pytest.raises(exc):
        toolbox.call("get_time", None)


# Async ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_call_async_awaits_async_handlers_and_calls_plain_ones(
    bus: MessageBus, toolbox: Toolbox, orders: list[PlaceOrder]
) -> None:
    async def later(command: GetTime) -> str:
        await asyncio.sleep(0)
        return "later"

    assert ok(await toolbox.call_async("place_order", json.dumps(ORDER))) == "o1"
    bus.unregister_command(GetTime)
    bus.register_command(GetTime, later)
    assert ok(await toolbox.call_async("get_time", None)) == "later"


@pytest.mark.asyncio
async def test_call_async_answers_every_error_as_call_does(
    bus: MessageBus, toolbox: Toolbox
) -> None:
    async def broken(command: GetTime) -> str:
        raise RuntimeError("clock stopped")

    error(await toolbox.call_async("nope", None), "unknown_tool")
    error(await toolbox.call_async("checkout", {"total": "1"}), "invalid_arguments")
    error(await toolbox.call_async("checkout", {"total": 1.0}), "unavailable")
    bus.register_command(GetTime, broken)
    err = error(await toolbox.call_async("get_time", ""), "handler_error")
    assert err["message"] == "tool 'get_time' failed: RuntimeError: clock stopped"


@pytest.mark.asyncio
async def test_call_async_lets_cancellation_through(bus: MessageBus, toolbox: Toolbox) -> None:
    started = asyncio.Event()

    async def slow(command: GetTime) -> str:
        started.set()
        await asyncio.sleep(60)
        return "late"

    bus.register_command(GetTime, slow)
    task = asyncio.ensure_future(toolbox.call_async("get_time", None))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_result_with_a_cycle_or_an_unprintable_error_still_gets_an_answer() -> None:
    bus = MessageBus.isolated()

    @dataclass
    class Loop(Command[Any]):
        pass

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    @dataclass
    class Fails(Command[None]):
        pass

    cycle: list[Any] = []
    cycle.append(cycle)
    bus.register_command(Loop, lambda command: cycle)

    def fail(command: Fails) -> None:
        raise Unprintable

    bus.register_command(Fails, fail)
    toolbox = Toolbox([Loop, Fails], bus=bus)
    assert toolbox.call("loop", {})["error"]["type"] == "result_not_json"
    reply = toolbox.call("fails", {})
    assert reply["error"]["type"] == "handler_error"
    assert "Unprintable" in reply["error"]["message"]
