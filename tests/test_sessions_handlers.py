"""A session's own command handlers: precedence, fallback, removal, middleware, both paths."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import pytest
from llmgine.messages import (
    AsyncHandlerError,
    Command,
    CommandHandlerNotFound,
    DuplicateHandlerError,
    MessageBus,
)
from llmgine.messages._handlers import SessionRouter


@dataclasses.dataclass
class Ask(Command[str]):
    text: str = ""


@dataclasses.dataclass
class AskLoudly(Ask):
    pass


@dataclasses.dataclass
class Other(Command[str]):
    pass


def bus_handler(command: Ask) -> str:
    return f"bus:{command.text}"


def test_a_session_handler_takes_precedence_in_its_session_only(bus: MessageBus) -> None:
    bus.register_command(Ask, bus_handler)
    a, b = bus.session("a"), bus.session("b")
    a.register_command(Ask, lambda c: f"a:{c.text}")
    assert a.dispatch(Ask("1")) == "a:1"
    assert b.dispatch(Ask("2")) == "bus:2"  # another session: the bus's
    assert bus.dispatch(Ask("3")) == "bus:3"  # outside sessions: the bus's
    with a:
        assert bus.dispatch(Ask("4")) == "a:4"  # the session current, on the bus itself
    # closed: its handler is gone, the bus's serves its id again
    command = Ask("5")
    with bus.session("a"):
        assert bus.dispatch(command) == "bus:5"
    assert command.session_id == "a"
    b.close()


def test_without_a_bus_handler_other_sessions_still_find_none(bus: MessageBus) -> None:
    a = bus.session("a")
    a.register_command(Ask, lambda c: "a")
    assert a.dispatch(Ask()) == "a"
    with pytest.raises(CommandHandlerNotFound, match="Ask"):
        bus.dispatch(Ask())
    with pytest.raises(CommandHandlerNotFound), bus.session("b"):
        bus.dispatch(Ask())
    a.close()
    with pytest.raises(CommandHandlerNotFound):
        bus.dispatch(Ask())


def test_subclasses_use_the_sessions_handler_of_a_base(bus: MessageBus) -> None:
    """The session's handlers come first (its nearest base's), then the bus's."""
    bus.register_command(AskLoudly, lambda c: "bus loud")
    with bus.session() as session:
        session.register_command(Ask, lambda c: "session base")
        assert bus.dispatch(AskLoudly()) == "session base"
        session.register_command(AskLoudly, lambda c: "session loud")
        assert bus.dispatch(AskLoudly()) == "session loud"
        assert bus.dispatch(Ask()) == "session base"
    assert bus.dispatch(AskLoudly()) == "bus loud"


def test_a_second_handler_of_a_type_in_one_session_is_refused(bus: MessageBus) -> None:
    def first(command: Ask) -> str:
        return "first"

    def second(command: Ask) -> str:
        return "second"

    with bus.session("s") as session:
        session.register_command(Ask, first)
        with pytest.raises(DuplicateHandlerError, match=r"in session 's'.*first.*second"):
            session.register_command(Ask, second)
        bus.session("t").register_command(Ask, second)  # another session may
        bus.register_command(Ask, second)  # and so may the bus
        assert bus.dispatch(Ask()) == "first"
    bus.sessions["t"].close()


def test_session_handlers_are_removed_on_exit_even_on_error(bus: MessageBus) -> None:
    bus.register_command(Ask, bus_handler)
    session = bus.session("s")

    def block() -> None:
        with session:
            session.register_command(Ask, lambda c: "session")
            session.register_command(Other, lambda c: "other")
            assert bus.dispatch(Ask()) == "session"
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        block()
    assert session.closed
    with bus.session("s"):
        assert bus.dispatch(Ask("x")) == "bus:x"
        with pytest.raises(CommandHandlerNotFound):
            bus.dispatch(Other())
    assert bus.snapshot().sessions is None  # nothing of sessions left


def test_types_without_session_handlers_resolve_to_the_bus_handler(bus: MessageBus) -> None:
    """They pay nothing for sessions: their cached entry is the bus's handler itself."""
    bus.register_command(Ask, bus_handler)
    bus.register_command(Other, lambda c: "other")
    session = bus.session()
    session.register_command(Other, lambda c: "session other")
    assert bus.dispatch(Ask("x")) == session.dispatch(Ask("x")) == "bus:x"
    assert session.dispatch(Other()) == "session other"
    table = bus._handlers  # (white box: what dispatch looks up)
    assert table.resolved[Ask].handler is bus_handler
    router = table.resolved[Other].handler
    assert isinstance(getattr(router, "__self__", None), SessionRouter)
    assert "session handlers of" in table.resolved[Other].name
    session.close()
    bus.dispatch(Other())
    assert table.resolved[Ask].handler is bus_handler
    assert table.resolved[Other].name.endswith("<lambda>")  # the bus's own again


def test_middleware_wraps_session_handlers(bus: MessageBus) -> None:
    calls: list[str] = []

    def mw(command: Any, call_next: Callable[[Any], Any]) -> Any:
        calls.append(f"mw {call_next.handler_name.rsplit('.', 1)[-1]}")
        return call_next(command)

    async def amw(command: Any, call_next: Callable[[Any], Any]) -> Any:
        calls.append("amw")
        return await call_next(command)

    def session_handler(command: Ask) -> str:
        return "session"

    bus.add_command_middleware(mw)
    bus.register_command(Ask, bus_handler)
    session = bus.session()
    session.register_command(Ask, session_handler)
    assert session.dispatch(Ask()) == "session"
    assert bus.dispatch(Ask("b")) == "bus:b"
    bus.add_command_middleware(amw)  # (the chains are built again)
    assert asyncio.run(session.dispatch_async(Ask())) == "session"
    assert calls == ["mw session_handler", "mw bus_handler", "amw"]
    session.close()


def test_async_session_handlers_on_both_paths(bus: MessageBus) -> None:
    async def ahandler(command: Ask) -> str:
        await asyncio.sleep(0)
        return "async session"

    bus.register_command(Ask, bus_handler)
    session = bus.session("s")
    session.register_command(Ask, ahandler)
    assert asyncio.run(session.dispatch_async(Ask())) == "async session"
    with pytest.raises(AsyncHandlerError, match=r"ahandler.*session 's'.*dispatch_async"):
        session.dispatch(Ask())
    assert bus.dispatch(Ask("sync")) == "bus:sync"  # the bus's plain one, outside it
    assert asyncio.run(bus.dispatch_async(Ask("a"))) == "bus:a"
    session.close()


def test_an_async_bus_handler_behind_a_router(bus: MessageBus) -> None:
    async def abus(command: Ask) -> str:
        return "async bus"

    bus.register_command(Ask, abus)
    session = bus.session()
    session.register_command(Ask, lambda c: "plain session")
    assert session.dispatch(Ask()) == "plain session"
    assert asyncio.run(bus.dispatch_async(Ask())) == "async bus"
    with pytest.raises(AsyncHandlerError, match="in the bus"):
        bus.dispatch(Ask())
    session.close()


def test_events_queued_by_a_session_handler_are_published(bus: MessageBus) -> None:
    from llmgine.messages import Event

    @dataclasses.dataclass
    class Answered(Event):
        text: str = ""

    seen: list[Event] = []
    with bus.session("s") as session:
        session.subscribe_event(Answered, seen.append)

        def handler(command: Ask) -> str:
            bus.add_pending_event(Answered(command.text))
            return "ok"

        session.register_command(Ask, handler)
        bus.dispatch(Ask("hi"))
    [answered] = seen
    assert answered.session_id == "s"


def test_session_handlers_are_not_bus_handlers(bus: MessageBus) -> None:
    """``command_handlers()`` lists the bus's; unregistering there leaves the session's."""
    bus.register_command(Ask, bus_handler)
    with bus.session() as session:
        session.register_command(Ask, lambda c: "session")
        assert list(bus.command_handlers()) == [Ask]
        bus.unregister_command(Ask)
        assert bus.dispatch(Ask()) == "session"
    with pytest.raises(CommandHandlerNotFound):
        bus.dispatch(Ask())


def test_not_found_says_why_when_only_sessions_handle_the_type(bus: MessageBus) -> None:
    """Dispatched outside any session (a plain thread, run_in_executor) or in a session
    without a handler: the error says so, rather than only to register a handler."""
    errors: list[BaseException] = []

    def in_a_plain_thread() -> None:
        try:
            bus.dispatch(Ask("q"))
        except CommandHandlerNotFound as exc:
            errors.append(exc)

    with bus.session("conv") as conv:
        conv.register_command(Ask, lambda command: "session tool")
        thread = threading.Thread(target=in_a_plain_thread)
        thread.start()
        thread.join()
        other = bus.session("other")
        with pytest.raises(CommandHandlerNotFound, match="only sessions handle it") as caught:
            other.dispatch(Ask("q"))
        other.close()
    assert "('conv'), and the bus has no handler" in str(caught.value)
    assert "session 'other' has none: register one with its session.register_command()" in str(
        caught.value
    )
    (error,) = errors
    assert isinstance(error, CommandHandlerNotFound)
    assert error.command_type is Ask
    assert "has no session_id: it was dispatched outside any session" in str(error)
    assert "run_in_executor" in str(error)
