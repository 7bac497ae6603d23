"""Sessions: the id they stamp, where it reaches, their life (started/ended), bad use."""

from __future__ import annotations

import asyncio
import contextvars
import copy
import dataclasses
import pickle
import threading
from typing import Any

import pytest
from llmgine.messages import (
    AsyncHandlerError,
    Command,
    Event,
    MessageBus,
    NoActiveScopeError,
    Session,
    SessionError,
    SubscriberError,
)
from llmgine.messages.events import SessionEnded, SessionStarted, SystemEvent


@dataclasses.dataclass
class Ask(Command[str]):
    text: str = ""


@dataclasses.dataclass
class Nested(Command[str]):
    pass


@dataclasses.dataclass
class Said(Event):
    event_type = "chat.said"
    text: str = ""


@dataclasses.dataclass
class Echoed(Event):
    event_type = "chat.echoed"
    text: str = ""


def record(bus: MessageBus | Session, key: str | type[Event] = "*") -> list[Event]:
    seen: list[Event] = []
    bus.subscribe_event(key, seen.append)
    return seen


# The id: stamped, inherited -----------------------------------------------------------


def test_messages_published_inside_a_session_carry_its_id(bus: MessageBus) -> None:
    seen = record(bus, Said)
    commands: list[Command[Any]] = []

    def ask(command: Ask) -> str:
        commands.append(command)
        return "ok"

    bus.register_command(Ask, ask)
    with bus.session("s-1") as session:
        assert session.id == "s-1"
        bus.emit(Said("in"))
        assert bus.dispatch(Ask()) == "ok"
    bus.emit(Said("out"))
    bus.dispatch(Ask())
    assert [(e.text, e.session_id) for e in seen] == [("in", "s-1"), ("out", None)]
    assert [c.session_id for c in commands] == ["s-1", None]


def test_a_given_session_id_is_kept(bus: MessageBus) -> None:
    """Like correlation: set already (an event from elsewhere), it is not replaced."""
    seen = record(bus, Said)
    event = Said("given")
    with bus.session("mine"):
        other = bus.session("theirs")
        other.emit(event)
        bus.emit(event)  # a re-emit keeps what it had
    assert [e.session_id for e in seen] == ["theirs", "theirs"]


def test_the_id_is_inherited_through_causation(bus: MessageBus) -> None:
    """Handler -> queued events -> their subscribers' dispatches -> their events."""
    seen = record(bus)
    nested: list[Nested] = []

    def ask(command: Ask) -> str:
        bus.add_pending_event(Said("queued"))
        return "ok"

    def nested_handler(command: Nested) -> str:
        nested.append(command)
        bus.add_pending_event(Echoed("deep"))
        return "nested"

    def on_said(event: Said) -> None:
        assert bus.dispatch(Nested()) == "nested"

    bus.register_command(Ask, ask)
    bus.register_command(Nested, nested_handler)
    bus.subscribe_event(Said, on_said)
    session = bus.session()
    command = Ask()
    session.dispatch(command)
    session.close()
    said, echoed = [e for e in seen if isinstance(e, Said | Echoed)]
    assert command.session_id == said.session_id == session.id
    assert nested[0].session_id == session.id
    assert nested[0].causation_id == said.event_id
    assert echoed.session_id == session.id
    assert echoed.causation_id == nested[0].command_id
    assert said.correlation_id == echoed.correlation_id == command.command_id


def test_the_id_reaches_tasks_to_thread_and_copied_contexts(bus: MessageBus) -> None:
    seen = record(bus, Said)

    async def main() -> None:
        async with bus.session("s") as session:
            task = asyncio.create_task(bus.emit_async(Said("task")))
            await asyncio.to_thread(bus.emit, Said("to_thread"))
            context = contextvars.copy_context()
            await task
            context.run(bus.emit, Said("copied"))
            assert session.id == "s"

    asyncio.run(main())
    assert {e.text: e.session_id for e in seen} == {"task": "s", "to_thread": "s", "copied": "s"}


def test_a_plain_thread_starts_outside_the_session(bus: MessageBus) -> None:
    """As for correlation: a thread starts with an empty context (documented)."""
    seen = record(bus, Said)
    with bus.session("s"):
        thread = threading.Thread(target=bus.emit, args=(Said("thread"),))
        thread.start()
        thread.join()
        # what the thread should do: run in a copy of the context
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(bus.emit, Said("copied")))
        thread.start()
        thread.join()
    assert {e.text: e.session_id for e in seen} == {"thread": None, "copied": "s"}


def test_a_task_that_outlives_the_session_still_carries_its_id(bus: MessageBus) -> None:
    """Its context was copied inside: it keeps stamping the id, but the session's own
    subscribers are gone, so only bus-wide ones see what it publishes."""
    everything = record(bus, Said)

    async def main() -> None:
        release = asyncio.Event()

        async def later() -> None:
            await release.wait()
            await bus.emit_async(Said("late"))

        async with bus.session("s") as session:
            own = record(session, Said)
            task = asyncio.create_task(later())
        release.set()
        await task
        assert own == []

    asyncio.run(main())
    [late] = everything
    assert late.session_id == "s"


def test_nested_sessions_the_inner_one_is_current_until_it_exits(bus: MessageBus) -> None:
    seen = record(bus, Said)
    with bus.session("outer"):
        bus.emit(Said("1"))
        with bus.session("inner"):
            bus.emit(Said("2"))
        bus.emit(Said("3"))
    bus.emit(Said("4"))
    assert [e.session_id for e in seen] == ["outer", "inner", "outer", None]


def test_a_session_entered_inside_a_handler_queues_into_the_handler(bus: MessageBus) -> None:
    """Its events join the handler's dispatch (published when the handler returns),
    with the session's id and the handler's correlation and causation."""
    seen = record(bus, Said)
    order: list[str] = []
    bus.subscribe_event("session.ended", lambda e: order.append("ended"))
    bus.subscribe_event(Said, lambda e: order.append("said"))

    def ask(command: Ask) -> str:
        with bus.session("inside"):
            bus.add_pending_event(Said("queued in the session"))
            assert seen == []  # not yet
        return "ok"

    bus.register_command(Ask, ask)
    command = Ask()
    bus.dispatch(command)
    [said] = seen
    assert said.session_id == "inside"
    assert said.causation_id == command.command_id
    assert said.correlation_id == command.correlation_id
    assert order == ["ended", "said"]  # the session closed inside the handler


def test_a_failing_handler_drops_what_it_queued_in_a_session(bus: MessageBus) -> None:
    seen = record(bus, Said)

    def ask(command: Ask) -> str:
        with bus.session():
            bus.add_pending_event(Said("dropped"))
        raise ValueError("no")

    bus.register_command(Ask, ask)
    with pytest.raises(ValueError, match="no"):
        bus.dispatch(Ask())
    assert seen == []


def test_add_pending_event_in_a_session_outside_a_handler_raises(bus: MessageBus) -> None:
    with bus.session(), pytest.raises(NoActiveScopeError, match="outside a command handler"):
        bus.add_pending_event(Said("nowhere to go"))
    session = bus.session()

    def queue_one() -> None:
        bus.add_pending_event(Said("nor here"))

    with session, pytest.raises(NoActiveScopeError, match="outside a command handler"):
        queue_one()


def test_the_id_survives_pickle_and_copy(bus: MessageBus) -> None:
    seen = record(bus, Said)
    commands: list[Ask] = []
    bus.register_command(Ask, lambda c: commands.append(c) or "ok")
    with bus.session("kept"):
        bus.emit(Said("x"))
        bus.dispatch(Ask("y"))
    for message in (seen[0], commands[0]):
        for twin in (pickle.loads(pickle.dumps(message)), copy.copy(message)):
            assert twin.session_id == "kept"
        assert copy.deepcopy(message).session_id == "kept"
    started = SessionStarted()
    bus.session("core").emit(started)  # (a frozen attrs core event)
    assert pickle.loads(pickle.dumps(started)).session_id == "core"


# Its own subscribers ----------------------------------------------------------------------


def test_session_subscribers_see_only_their_sessions_events(bus: MessageBus) -> None:
    everything = record(bus, Said)
    a, b = bus.session("a"), bus.session("b")
    seen_a, seen_b = record(a, Said), record(b, "chat.*")
    a.emit(Said("to a"))
    b.emit(Said("to b"))
    bus.emit(Said("to nobody's session"))
    assert [e.text for e in seen_a] == ["to a"]
    assert [e.text for e in seen_b] == ["to b"]
    assert len(everything) == 3
    a.close()
    b.close()


def test_session_subscribers_see_their_sessions_failure_reports(bus: MessageBus) -> None:
    """A subscriber failing on a session's event is reported in that session."""
    with bus.session("a") as a, bus.session("b") as b:
        errors_a, errors_b = record(a, "system.*.error"), record(b, "system.*.error")

        def broken(event: Said) -> None:
            raise RuntimeError("broken subscriber")

        a.subscribe_event(Said, broken)
        a.emit(Said("x"))
        [report] = errors_a
        assert isinstance(report, SystemEvent)
        assert report.session_id == "a"
        assert "broken subscriber" in str(report.details)
        assert errors_b == []


def test_session_subscriptions_are_listed_and_removed_on_close(bus: MessageBus) -> None:
    session = bus.session()
    sub = session.subscribe_event(Said, print, priority=3)
    assert sub.session_id == session.id
    assert sub.active
    assert sub in bus.subscriptions
    assert f"session={session.id!r}" in repr(sub)
    assert bus.subscribers_for(_in(session, Said("x"))).handlers == (print,)
    session.close()
    assert not sub.active
    assert sub not in bus.subscriptions
    sub.unsubscribe()  # still a no-op


def test_subscribers_for_an_unstamped_event_counts_the_current_session(bus: MessageBus) -> None:
    """An event without a session_id yet, asked about inside a session: the plan is the
    one publishing it there gives (the session's subscribers too), as it says."""
    bus.subscribe_event(Said, repr)
    with bus.session("s") as session:
        session.subscribe_event(Said, print, priority=5)
        event = Said("x")
        assert bus.subscribers_for(event).handlers == (print, repr)
        assert event.session_id is None  # (asking stamps nothing)
        assert bus.subscribers_for(_in(bus.session("t"), Said())).handlers == (repr,)
    assert bus.subscribers_for(Said("x")).handlers == (repr,)


def test_a_session_reuses_one_scope_for_its_own_calls(bus: MessageBus) -> None:
    """session.emit/dispatch set the session's one root scope (no new one per call)."""
    from llmgine.messages._scope import get_scope

    scopes: list[object] = []
    bus.add_event_observer(lambda event: scopes.append(get_scope()))  # (the caller's scope)
    session = bus.session("s")
    session.emit(Said("a"))
    session.emit(Said("b"))
    asyncio.run(session.emit_async(Said("c")))
    session.close()
    said = scopes[1:4]  # (after its SessionStarted's)
    assert said[0] is said[1] is said[2] is not None


def test_priorities_merge_bus_and_session_subscribers(bus: MessageBus) -> None:
    order: list[str] = []
    bus.subscribe_event(Said, lambda e: order.append("bus 0"))
    bus.subscribe_event("chat.*", lambda e: order.append("bus 5"), priority=5)
    with bus.session() as session:
        session.subscribe_event(Said, lambda e: order.append("session 9"), priority=9)
        session.subscribe_event(Said, lambda e: order.append("session 0"))
        bus.emit(Said())
    assert order == ["session 9", "bus 5", "bus 0", "session 0"]


def test_expect_and_wait_for_on_a_session_see_only_its_events(bus: MessageBus) -> None:
    async def main() -> None:
        a, other = bus.session("a"), bus.session("b")
        waiter = a.expect(Said)
        await other.emit_async(Said("b's"))
        await bus.emit_async(Said("nobody's"))
        assert not waiter.done()
        await a.emit_async(Said("a's"))
        assert (await waiter).text == "a's"
        with pytest.raises(TimeoutError):
            await a.wait_for(Said, timeout=0)
        assert bus.subscriptions == ()
        await a.aclose()
        await other.aclose()

    asyncio.run(main())


def _in(session: Session, event: Event) -> Event:
    """``event`` stamped with the session's id, as publishing in it would."""
    seen: list[Event] = []
    with session.subscribe_event("*", seen.append):
        session.emit(event)
    return seen[-1]


# Its life: started, ended ---------------------------------------------------------------


def test_started_and_ended_are_published_with_its_id(bus: MessageBus) -> None:
    seen = record(bus, "session.*")
    with bus.session("life") as session:
        own = record(session)
        bus.emit(Said())
    started, ended = seen
    assert isinstance(started, SessionStarted)
    assert isinstance(ended, SessionEnded)
    assert started.session_id == ended.session_id == "life"
    assert ended.error is None
    assert [e.event_type for e in own] == ["chat.said"]  # its own subscribers: gone at the end


def test_ended_describes_the_error_that_left_the_block(bus: MessageBus) -> None:
    ended = record(bus, SessionEnded)
    with pytest.raises(ValueError, match="bad input"), bus.session():
        raise ValueError("bad input")
    with pytest.raises(KeyError), bus.session():
        raise KeyError("k")
    with pytest.raises(RuntimeError), bus.session():
        raise RuntimeError

    async def main() -> None:
        async with bus.session():
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
    assert [e.error for e in ended] == [
        "ValueError: bad input",
        "KeyError: 'k'",
        "RuntimeError",
        "asyncio.exceptions.CancelledError",
    ]


def test_a_session_used_without_with_starts_on_first_use(bus: MessageBus) -> None:
    seen = record(bus, "*")
    session = bus.session("plain")
    session.subscribe_event(Said, lambda e: None)
    assert seen == []
    assert not session.started
    session.emit(Said("1"))
    session.emit(Said("2"))
    session.close()
    session.close()  # again: nothing
    assert [e.event_type for e in seen] == [
        "session.started",
        "chat.said",
        "chat.said",
        "session.ended",
    ]
    unused = bus.session("unused")
    unused.close()
    assert [e.event_type for e in seen[4:]] == ["session.started", "session.ended"]


def test_async_with_publishes_with_emit_async(bus: MessageBus) -> None:
    """Async subscribers of the session events: ``async with`` and ``aclose`` work, the
    sync forms raise AsyncHandlerError before changing anything (the async forms then
    still publish the start and the end)."""
    seen: list[str] = []

    async def on_session(event: Event) -> None:
        seen.append(event.event_type)

    bus.subscribe_event("session.*", on_session)

    async def main() -> None:
        async with bus.session():
            pass
        session = bus.session()
        await session.dispatch_async(_noop_command(bus))
        await session.aclose()

    asyncio.run(main())
    assert seen == ["session.started", "session.ended"] * 2
    session = bus.session("sync")
    with pytest.raises(AsyncHandlerError, match=r"'session\.started'.*use 'async with'"), session:
        pass  # pragma: no cover (entering fails)
    assert bus.sessions["sync"] is session
    assert not session.started
    with pytest.raises(AsyncHandlerError, match=r"session.emit\(\).*emit_async"):
        session.emit(Said())

    async def use_it() -> None:
        async with session:
            pass

    asyncio.run(use_it())
    assert session.closed
    assert "sync" not in bus.sessions
    used = bus.session("used")
    used.subscribe_event(Said, print)
    asyncio.run(used.emit_async(Said()))
    with pytest.raises(AsyncHandlerError, match=r"close\(\).*still open.*aclose"):
        used.close()
    assert not used.closed
    assert len(bus.subscriptions) == 2
    asyncio.run(used.aclose())
    assert used.closed
    assert bus.sessions == {}
    assert len(bus.subscriptions) == 1
    assert seen == ["session.started", "session.ended"] * 4


def _noop_command(bus: MessageBus) -> Command[None]:
    @dataclasses.dataclass
    class Noop(Command[None]):
        pass

    bus.register_command(Noop, lambda c: None)
    return Noop()


def test_the_ended_event_reaches_bus_wide_subscribers_only(bus: MessageBus) -> None:
    everything = record(bus, SessionEnded)
    session = bus.session()
    own = record(session, SessionEnded)
    session.close()
    assert len(everything) == 1
    assert own == []


def test_a_strict_failure_of_a_session_subscriber_propagates_but_closes(bus: MessageBus) -> None:
    strict = MessageBus.isolated(strict=True)

    def broken(event: Event) -> None:
        raise RuntimeError("ended subscriber")

    strict.subscribe_event(SessionEnded, broken)
    session = strict.session()
    sub = session.subscribe_event(Said, print)
    with pytest.raises(SubscriberError):
        session.close()
    assert session.closed
    assert not sub.active
    assert session.id not in strict.sessions


# Its id, and bad use ----------------------------------------------------------------------


def test_generated_ids_are_unique_and_open_sessions_are_listed(bus: MessageBus) -> None:
    sessions = [bus.session() for _ in range(50)]
    assert len({s.id for s in sessions}) == 50
    assert all(isinstance(s.id, str) and s.id for s in sessions)
    assert dict(bus.sessions) == {s.id: s for s in sessions}
    for session in sessions:
        session.close()
    assert dict(bus.sessions) == {}
    assert repr(sessions[0]).startswith(f"<Session {sessions[0].id!r} (closed)")


def test_opening_an_open_id_is_refused_naming_it(bus: MessageBus) -> None:
    first = bus.session("twice")
    with pytest.raises(SessionError, match="'twice' is already open"):
        bus.session("twice")
    assert bus.sessions["twice"] is first
    first.close()
    again = bus.session("twice")  # closed: the id is free again
    assert again is not first
    again.close()


@pytest.mark.parametrize(("bad", "error"), [(1, TypeError), (b"x", TypeError), ("", ValueError)])
def test_bad_session_ids_are_refused(bus: MessageBus, bad: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="session_id"):
        bus.session(bad)
    assert dict(bus.sessions) == {}


def test_a_closed_session_refuses_everything(bus: MessageBus) -> None:
    session = bus.session("done")
    session.close()
    for call in (
        lambda: session.dispatch(Ask()),
        lambda: session.emit(Said()),
        lambda: session.subscribe_event(Said, print),
        lambda: session.register_command(Ask, lambda c: "x"),
        lambda: session.__enter__(),
        lambda: asyncio.run(session.emit_async(Said())),
        lambda: asyncio.run(session.dispatch_async(Ask())),
    ):
        with pytest.raises(SessionError, match="'done' is closed, so it cannot"):
            call()
    assert bus.subscriptions == ()


def test_a_session_is_entered_once(bus: MessageBus) -> None:
    with bus.session("once") as session:
        with pytest.raises(SessionError, match="already entered"):
            session.__enter__()
        assert bus.sessions["once"] is session
    assert session.closed


def test_closing_inside_the_block_ends_it_there(bus: MessageBus) -> None:
    seen = record(bus, "session.ended")
    with bus.session() as session:
        session.close()
        assert session.closed
        assert len(seen) == 1
        with pytest.raises(SessionError):
            session.emit(Said())
    assert len(seen) == 1


def test_bad_subscriptions_through_a_session_are_refused(bus: MessageBus) -> None:
    session = bus.session()
    with pytest.raises(TypeError, match="must be callable"):
        session.subscribe_event(Said, "nope")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="background=True"):
        session.subscribe_event(Said, print, max_pending=5)
    with pytest.raises(TypeError, match="Command subclass"):
        session.register_command(Said, print)  # type: ignore[arg-type]
    assert bus.subscriptions == ()
    session.close()


def test_a_message_class_of_its_own_with_a_session_id_field_is_refused() -> None:
    import dataclasses

    import attrs
    from llmgine.messages import Command, Event

    with pytest.raises(TypeError, match="Upstream declares 'session_id', which the bus fills"):

        @dataclasses.dataclass
        class Upstream(Event):
            session_id: str | None = None

    with pytest.raises(TypeError, match=r"name your field differently, e\.g\. 'conversation_id'"):

        @attrs.define
        class Ask(Command[str]):
            session_id: str

    class Fine(Event):  # reading the bus's attribute is what everyone does
        conversation_id = "c1"

    assert Fine().session_id is None
