"""reset(), snapshot()/restore() and the test plugin's restoring cover sessions."""

from __future__ import annotations

import dataclasses

import pytest
from llmgine.messages import Command, CommandHandlerNotFound, Event, MessageBus, SessionError
from llmgine.messages.bus import message_bus


@dataclasses.dataclass
class Ask(Command[str]):
    pass


@dataclasses.dataclass
class Said(Event):
    event_type = "snap.said"


def test_no_session_means_no_session_state(bus: MessageBus) -> None:
    assert bus.snapshot().sessions is None
    bus.session().close()
    assert bus.snapshot().sessions is None


def test_reset_forgets_open_sessions_and_their_handlers(bus: MessageBus) -> None:
    ended: list[Event] = []
    bus.subscribe_event("session.ended", ended.append)
    session = bus.session("s")
    session.register_command(Ask, lambda c: "session")
    sub = session.subscribe_event(Said, print)
    bus.reset()
    assert dict(bus.sessions) == {}
    assert bus.snapshot().sessions is None
    assert not sub.active
    with pytest.raises(CommandHandlerNotFound):
        bus.session("s").dispatch(Ask())  # the id is free; the handler is gone
    assert session.closed
    with pytest.raises(SessionError, match=r"forgotten by bus\.reset"):
        session.emit(Said())
    session.close()  # nothing left to do, nothing published
    assert ended == []


def test_restore_puts_back_sessions_and_handlers_as_they_were(bus: MessageBus) -> None:
    kept = bus.session("kept")
    kept.register_command(Ask, lambda c: "kept's")
    seen: list[Event] = []
    kept.subscribe_event(Said, seen.append)
    kept.emit(Said())  # started
    snapshot = bus.snapshot()
    assert snapshot.sessions is not None
    assert not snapshot.changed()

    kept.close()
    new = bus.session("new")
    new.register_command(Ask, lambda c: "new's")
    assert snapshot.changed()
    snapshot.restore()

    assert dict(bus.sessions) == {"kept": kept}
    assert not kept.closed
    assert kept.started
    assert new.closed
    assert kept.dispatch(Ask()) == "kept's"
    kept.emit(Said())
    assert len(seen) == 2  # its subscriber is back too
    with pytest.raises(CommandHandlerNotFound):
        bus.dispatch(Ask())
    assert not snapshot.changed()


def test_a_session_that_starts_after_the_snapshot_is_a_change(bus: MessageBus) -> None:
    session = bus.session()
    with bus.snapshot() as snapshot:
        assert not snapshot.changed()
        session.emit(Said())
        assert snapshot.changed()
    assert not session.started  # as it was: its first use publishes SessionStarted again
    session.close()


def test_a_session_handler_registered_after_the_snapshot_is_a_change(bus: MessageBus) -> None:
    session = bus.session()
    snapshot = bus.snapshot()
    session.register_command(Ask, lambda c: "x")
    assert snapshot.changed()
    snapshot.restore()
    with pytest.raises(CommandHandlerNotFound):
        session.dispatch(Ask())
    session.close()


# The test plugin's restoring of message_bus: these two run in this order.


def test_leaves_a_session_open_and_entered_on_the_global_bus() -> None:
    session = message_bus.session("leaked")
    session.register_command(Ask, lambda c: "leaked")
    session.subscribe_event(Said, print)
    session.__enter__()  # and never left


def test_the_next_test_sees_no_leaked_session() -> None:
    assert "leaked" not in message_bus.sessions
    assert message_bus.snapshot().sessions is None
    seen: list[Event] = []
    with message_bus.subscribe_event(Said, seen.append):
        message_bus.emit(Said())
    assert seen[0].session_id is None  # not current any more either
    with pytest.raises(CommandHandlerNotFound):
        message_bus.dispatch(Ask())
