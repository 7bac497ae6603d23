"""A session's SessionStarted/SessionEnded are never lost when publishing them fails, and
a failure publishing the end never replaces the exception that left the block."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from llmgine.messages import AsyncHandlerError, Command, Event, MessageBus, SubscriberError
from llmgine.messages.events import SessionEnded, SessionStarted


@dataclasses.dataclass
class Ask(Command[str]):
    text: str = ""


@dataclasses.dataclass
class Said(Event):
    event_type = "chat.said"
    text: str = ""


def session_events(bus: MessageBus) -> list[str]:
    seen: list[str] = []
    bus.subscribe_event("session.*", lambda e: seen.append(f"{e.event_type} {e.session_id}"))
    return seen


async def _nothing(event: Event) -> None:
    pass


def test_a_refused_sync_emit_does_not_start_the_session(bus: MessageBus) -> None:
    """Async subscriber of session.started: a sync emit is refused before the session
    starts, so the corrected emit_async publishes the start (it was lost for good)."""
    seen = session_events(bus)
    bus.subscribe_event(SessionStarted, _nothing)
    session = bus.session("conv")
    with pytest.raises(AsyncHandlerError, match=r"session 'conv'.*session.emit\(\).*emit_async"):
        session.emit(Said("x"))
    with pytest.raises(AsyncHandlerError, match=r"dispatch_async"):
        session.dispatch(Ask("x"))  # (refused before the dispatch: it has no handler)
    assert not session.started
    assert seen == []

    async def main() -> None:
        await session.emit_async(Said("y"))
        await session.aclose()

    asyncio.run(main())
    assert seen == ["session.started conv", "session.ended conv"]


def test_a_refused_sync_close_leaves_the_session_open(bus: MessageBus) -> None:
    """Async subscriber of session.ended: close() changes nothing; aclose() then ends it."""
    seen = session_events(bus)
    bus.subscribe_event("*", _nothing)
    session = bus.session("conv")
    own = session.subscribe_event(Said, print)

    async def main() -> None:
        await session.emit_async(Said("x"))
        with pytest.raises(AsyncHandlerError, match=r"close\(\).*still open.*aclose"):
            session.close()
        assert not session.closed
        assert own.active
        await session.aclose()

    asyncio.run(main())
    assert session.closed
    assert not own.active
    assert seen == ["session.started conv", "session.ended conv"]


def test_a_sync_with_block_keeps_its_end_for_aclose(bus: MessageBus) -> None:
    """A sync ``with`` in async code whose end has async subscribers: the block closes the
    session, says to use async with, and aclose() publishes the end it kept (once)."""
    seen = session_events(bus)
    bus.subscribe_event(SessionEnded, _nothing)
    session = bus.session("conv")

    async def main() -> None:
        kept = r"'with' block.*closed.*aclose\(\)' publishes"
        with pytest.raises(AsyncHandlerError, match=kept), session:
            session.subscribe_event(Said, print)
        assert session.closed
        assert len(bus.subscriptions) == 2
        assert seen == ["session.started conv"]
        await session.aclose()
        await session.aclose()

    asyncio.run(main())
    assert seen == ["session.started conv", "session.ended conv"]


def test_the_block_error_survives_a_refused_end(bus: MessageBus) -> None:
    """The block raised, and its end could not be published: the block's error propagates
    (with a note saying so), and aclose() publishes the end, describing that error."""
    ends: list[SessionEnded] = []
    bus.subscribe_event(SessionEnded, ends.append)
    bus.subscribe_event(SessionEnded, _nothing)
    session = bus.session("conv")
    with pytest.raises(ValueError, match="the real error") as caught, session:
        raise ValueError("the real error")
    assert "AsyncHandlerError" in " ".join(caught.value.__notes__)
    assert ends == []
    asyncio.run(session.aclose())
    assert [e.error for e in ends] == ["ValueError: the real error"]


@pytest.mark.parametrize("form", ["with", "async with"])
def test_a_failing_end_subscriber_does_not_replace_the_block_error(form: str) -> None:
    """On a strict bus, a failing session.ended subscriber: the block's error propagates
    (the failure is noted on it and logged); without one, the failure is raised."""
    bus = MessageBus.isolated(strict=True)

    def audit_log_down(event: Event) -> None:
        raise RuntimeError("audit log down")

    bus.subscribe_event(SessionEnded, audit_log_down)

    async def run(fail: bool) -> None:
        if form == "with":
            with bus.session():
                if fail:
                    raise ValueError("the real error")
        else:
            async with bus.session():
                if fail:
                    raise ValueError("the real error")

    with pytest.raises(ValueError, match="the real error") as caught:
        asyncio.run(run(True))
    assert "SubscriberError" in caught.value.__notes__[-1]
    assert "audit_log_down" in caught.value.__notes__[-1]
    with pytest.raises(SubscriberError, match=r"session\.ended"):
        asyncio.run(run(False))


def test_a_start_that_failed_on_entering_is_still_ended() -> None:
    """Entering published the start, and a strict subscriber of it failed: no block runs,
    but the end is published (every start has its end), describing that failure."""
    bus = MessageBus.isolated(strict=True)
    ends: list[SessionEnded] = []
    bus.subscribe_event(SessionEnded, ends.append)

    def refuses(event: Event) -> None:
        raise RuntimeError("no")

    bus.subscribe_event(SessionStarted, refuses)
    session = bus.session("conv")
    with pytest.raises(SubscriberError, match=r"session\.started"), session:
        pass  # pragma: no cover (entering fails)
    assert session.closed
    assert bus.sessions == {}
    (end,) = ends
    assert end.error is not None
    assert "SubscriberError: 1 subscriber(s) of event 'session.started' failed" in end.error


def test_closing_an_unused_session_publishes_its_end_even_if_its_start_fails() -> None:
    bus = MessageBus.isolated(strict=True)
    seen = session_events(bus)

    def refuses(event: Event) -> None:
        raise RuntimeError("no")

    bus.subscribe_event(SessionStarted, refuses)
    session = bus.session("conv")
    with pytest.raises(SubscriberError, match=r"session\.started"):
        session.close()
    assert seen == ["session.started conv", "session.ended conv"]
