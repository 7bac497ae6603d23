"""Many concurrent sessions on one bus never see each other's events or commands."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from llmgine.messages import Command, Event, MessageBus

SESSIONS = 1000


@dataclasses.dataclass
class Turn(Command[str]):
    """A conversation turn: its owner is the session it was sent in."""

    owner: int


@dataclasses.dataclass
class Tool(Command[int]):
    owner: int


@dataclasses.dataclass
class Token(Event):
    event_type = "chat.token"
    owner: int
    text: str


@dataclasses.dataclass
class ToolResult(Event):
    event_type = "chat.tool_result"
    owner: int


def test_a_thousand_concurrent_sessions_stay_apart() -> None:
    """Each session: its own subscribers (async and plain) and Turn handler, a nested
    dispatch of a bus-wide (or, for some, its own) Tool handler, events queued and
    emitted, and for a third of them work in a thread via ``asyncio.to_thread``."""
    bus = MessageBus.isolated(strict=True)  # a subscriber's failure fails the test
    by_session: dict[str | None, Counter[str]] = {}
    lock = threading.Lock()

    def everything(event: Event) -> None:  # bus-wide: sees all, from any thread
        with lock:
            by_session.setdefault(event.session_id, Counter())[event.event_type] += 1

    bus.subscribe_event("chat.*", everything)

    def bus_tool(command: Tool) -> int:
        bus.add_pending_event(ToolResult(command.owner))
        return command.owner

    bus.register_command(Tool, bus_tool)

    async def conversation(i: int) -> None:
        sid = f"s{i}"
        tokens: list[Token] = []
        results: list[ToolResult] = []
        commands: list[Command[object]] = []
        async with bus.session(sid) as session:

            async def on_token(event: Token) -> None:
                await asyncio.sleep(0)
                tokens.append(event)

            session.subscribe_event(Token, on_token)
            session.subscribe_event("chat.tool_result", results.append)
            if i % 5 == 0:  # some sessions answer their tool calls themselves

                def own_tool(command: Tool) -> int:
                    commands.append(command)
                    bus.add_pending_event(ToolResult(command.owner))
                    return -command.owner

                session.register_command(Tool, own_tool)

            async def turn(command: Turn) -> str:
                commands.append(command)
                await asyncio.sleep(0)
                answer = await bus.dispatch_async(Tool(command.owner))
                assert answer == (-i if i % 5 == 0 else i)
                bus.add_pending_event(Token(command.owner, "queued"))
                await bus.emit_async(Token(command.owner, "emitted"))
                if i % 3 == 0:
                    await asyncio.to_thread(in_thread, command.owner)
                return sid

            def in_thread(owner: int) -> None:
                bus.emit(ToolResult(owner))  # a plain subscriber's event, from a thread
                bus.add_pending_event(Token(owner, "from a thread"))

            session.register_command(Turn, turn)
            assert await bus.dispatch_async(Turn(i)) == sid
            assert await session.dispatch_async(Turn(i)) == sid
        # what this session saw was its own, all of it
        assert {e.owner for e in (*tokens, *results)} == {i}
        assert {e.session_id for e in (*tokens, *results)} == {sid}
        assert {c.session_id for c in commands} == {sid}
        assert {c.owner for c in commands} == {i}  # type: ignore[attr-defined]
        per_turn = 3 if i % 3 == 0 else 2
        assert len(tokens) == 2 * per_turn
        assert len(results) == 2 * (2 if i % 3 == 0 else 1)

    async def main() -> None:
        await asyncio.gather(*(conversation(i) for i in range(SESSIONS)))

    asyncio.run(main())
    assert set(by_session) == {f"s{i}" for i in range(SESSIONS)}
    for i in range(SESSIONS):
        counts = by_session[f"s{i}"]
        assert counts["chat.token"] == 2 * (3 if i % 3 == 0 else 2)
        assert counts["chat.tool_result"] == 2 * (2 if i % 3 == 0 else 1)
    # everything went with the sessions
    assert dict(bus.sessions) == {}
    assert [s.key for s in bus.subscriptions] == ["chat.*"]
    assert bus.snapshot().sessions is None


def test_threads_running_sessions_at_once_stay_apart() -> None:
    """Sessions used from a pool of threads (sync paths), each with its own handler."""
    bus = MessageBus.isolated(strict=True)
    bus.register_command(Tool, lambda c: c.owner)
    barrier = threading.Barrier(8)

    def conversation(i: int) -> list[Event]:
        seen: list[Event] = []
        with bus.session(f"t{i}") as session:
            session.subscribe_event("chat.*", seen.append)

            def turn(command: Turn) -> str:
                assert bus.dispatch(Tool(command.owner)) == i  # nested, the bus's handler
                return f"t{i}"

            session.register_command(Turn, turn)
            if i < 8:
                barrier.wait()  # the first eight are all open at once
            for n in range(20):
                assert session.dispatch(Turn(i)) == f"t{i}"
                bus.emit(Token(i, str(n)))
        return seen

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(conversation, range(200)))
    for i, seen in enumerate(results):
        assert len(seen) == 20
        assert {(e.session_id, e.owner) for e in seen} == {(f"t{i}", i)}  # type: ignore[attr-defined]
    assert dict(bus.sessions) == {}
    assert bus.subscriptions == ()


def test_a_copied_context_carries_the_session_into_a_pool_thread() -> None:
    bus = MessageBus.isolated()
    seen: list[Event] = []
    bus.subscribe_event(Token, seen.append)
    with bus.session("pooled"), ThreadPoolExecutor(1) as pool:
        context = contextvars.copy_context()
        pool.submit(context.run, bus.emit, Token(0, "copied")).result()
        pool.submit(bus.emit, Token(0, "plain")).result()  # a pool thread: no session
    assert [(e.text, e.session_id) for e in seen] == [("copied", "pooled"), ("plain", None)]  # type: ignore[attr-defined]
