"""Races between a session's deliveries and changes of its subscriptions, made deterministic:
the "other thread" acts from inside the registry's read of its session table, the moment a
real thread could."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from llmgine.messages import Command, Event, MessageBus


@dataclass
class Tok(Event):
    event_type = "chat.token"
    text: str = ""


class Meddling(dict[str, Any]):
    """A session table whose next read of ``key`` first runs ``act`` (once)."""

    def __init__(self, table: dict[str, Any], key: str, act: Any) -> None:
        super().__init__(table)
        self.key, self.act = key, act

    def get(self, key: str, default: Any = None) -> Any:
        value = dict.get(self, key, default)
        if self.act is not None and key == self.key:
            act, self.act = self.act, None
            act()
        return value


def test_a_subscriber_added_while_a_plan_is_built_gets_the_later_events() -> None:
    bus = MessageBus.isolated()
    session = bus.session("s")
    session.subscribe_event(Tok, lambda e: None)
    session.emit(Tok("warm-up"))
    session.subscribe_event(Tok, lambda e: None)  # (empties the session's plan cache)
    late: list[Event] = []
    registry = bus._registry
    registry.sessions = Meddling(
        registry.sessions, "s", lambda: session.subscribe_event(Tok, late.append)
    )
    for text in ("first", "second", "third"):
        session.emit(Tok(text))
    assert [e.text for e in late] == ["second", "third"]  # type: ignore[attr-defined]


def test_a_delivery_racing_the_close_leaves_no_plan_for_the_next_session_of_that_id() -> None:
    bus = MessageBus.isolated()
    old = bus.session("conversation-7")
    old_socket: list[Event] = []
    old.subscribe_event(Tok, old_socket.append)
    old.emit(Tok("warm-up"))
    old.subscribe_event("other.*", lambda e: None)
    registry = bus._registry
    registry.sessions = Meddling(registry.sessions, "conversation-7", old.close)
    old.emit(Tok("last token"))  # in flight while the close happens
    old_socket.clear()
    assert "conversation-7" not in registry.session_cache
    new = bus.session("conversation-7")  # the same conversation, its next request
    new.emit(Tok("new request's token"))
    assert old_socket == []


class Tool(Command[str]):
    pass


def test_session_handlers_come_and_go_while_other_threads_dispatch() -> None:
    # Registering or removing a session's handler forgets cached entries while other
    # threads add to that cache: it must never fail ("dictionary changed size").
    bus = MessageBus.isolated()
    bus.register_command(Tool, lambda c: "bus")
    kinds = [type(f"Cmd{i}", (Command,), {}) for i in range(200)]
    for kind in kinds:
        bus.register_command(kind, lambda c: None)
    stop = threading.Event()
    errors: list[BaseException] = []

    def dispatching() -> None:
        try:
            while not stop.is_set():
                bus._handlers.invalidate()  # (so each pass adds every entry again)
                for kind in kinds:
                    bus.dispatch(kind())
        except BaseException as exc:  # pragma: no cover - the failure being tested
            errors.append(exc)

    threads = [threading.Thread(target=dispatching) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(300):
            with bus.session() as session:
                session.register_command(Tool, lambda c: "session")
                assert session.dispatch(Tool()) == "session"
            assert bus.dispatch(Tool()) == "bus"
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert dict(bus.sessions) == {}
