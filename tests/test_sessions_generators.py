"""A session's block inside a generator (a streaming reply) that ends in another context
than it began: closed by another task or thread, it neither raises over the block's own
error nor leaves the session's id stamped on what the first context publishes later."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
from llmgine.messages import Event, MessageBus
from llmgine.messages._scope import get_scope
from llmgine.messages.events import SessionEnded


@dataclasses.dataclass
class Token(Event):
    event_type = "chat.token"
    text: str = ""


def test_an_async_generator_closed_by_another_task(bus: MessageBus) -> None:
    ends: list[SessionEnded] = []
    bus.subscribe_event(SessionEnded, ends.append)

    async def stream_reply() -> AsyncIterator[str]:
        async with bus.session("conv-1"):
            for word in ("Hello", "there"):
                await bus.emit_async(Token(word))
                yield word

    async def main() -> None:
        reply = stream_reply()
        assert await anext(reply) == "Hello"
        # (the client went away: the server closes the stream from another task)
        await asyncio.create_task(reply.aclose())  # (raised ValueError: another Context)
        assert ends
        assert ends[0].session_id == "conv-1"
        assert ends[0].error is not None
        assert bus.sessions == {}
        after = Token("later")
        await bus.emit_async(after)
        assert after.session_id is None  # (was conv-1: the session's id stayed stamped)

    asyncio.run(main())


def test_the_block_error_wins_when_it_ends_in_another_task(bus: MessageBus) -> None:
    async def stream_reply() -> AsyncIterator[str]:
        async with bus.session("conv-1"):
            yield "Hello"
            raise ValueError("the model failed")

    async def main() -> None:
        reply = stream_reply()
        await anext(reply)

        async def step() -> str:
            return await anext(reply)

        with pytest.raises(ValueError, match="the model failed"):
            await asyncio.create_task(step())
        assert bus.sessions == {}

    asyncio.run(main())


def test_a_generator_closed_in_another_thread(bus: MessageBus) -> None:
    # (in a context of its own: the test's would keep the session's scope)
    contextvars.copy_context().run(_generator_closed_in_another_thread, bus)


def _generator_closed_in_another_thread(bus: MessageBus) -> None:
    def stream_reply() -> Iterator[str]:
        with bus.session("conv-1"):
            yield "Hello"

    reply = stream_reply()
    assert next(reply) == "Hello"
    assert get_scope() is not None  # (a generator runs in its caller's context)
    errors: list[BaseException] = []

    def close() -> None:
        try:
            reply.close()
        except BaseException as exc:  # pragma: no cover (the bug)
            errors.append(exc)

    closer = threading.Thread(target=close)
    closer.start()
    closer.join()
    assert errors == []
    assert bus.sessions == {}
    after = Token("later")
    bus.emit(after)
    assert after.session_id is None
