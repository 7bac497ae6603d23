"""What trace lines say: cancellations, exceptions without a message, and ASCII marks on
streams whose encoding cannot print the Unicode ones."""

from __future__ import annotations

import asyncio
import io
import re
import sys
from dataclasses import dataclass

import pytest
from llmgine.messages import Command, Event, MessageBus
from llmgine.tracing import Tracer, install_tracing


@dataclass
class Turn(Command[str]):
    prompt: str


@dataclass
class Said(Event):
    event_type = "chat.said"
    text: str


M = __name__


def normalized(text: str) -> list[str]:
    text = re.sub(r"#[0-9a-f]+", "#N", text)
    return re.sub(r"\d+\.\d ms", "T ms", text).splitlines()


def test_a_cancelled_command_says_so_with_its_time(bus: MessageBus) -> None:
    async def slow(command: Turn) -> str:
        await asyncio.sleep(10)
        return "late"

    bus.register_command(Turn, slow)
    out = io.StringIO()
    install_tracing(bus, out)

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(bus.dispatch_async(Turn(prompt="hi")), 0.01)

    asyncio.run(main())
    assert normalized(out.getvalue()) == [
        f"▶ {M}.Turn #N",
        f"✖ {M}.Turn #N cancelled after T ms",
    ]
    assert "CancelledError" not in out.getvalue()


def test_a_cancelled_subscriber_says_so(bus: MessageBus) -> None:
    async def listens(event: Said) -> None:
        await asyncio.sleep(10)

    bus.subscribe_event(Said, listens)
    out = io.StringIO()
    install_tracing(bus, out)

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(bus.emit_async(Said(text="hi")), 0.01)

    asyncio.run(main())
    name = f"{M}.test_a_cancelled_subscriber_says_so.<locals>.listens"
    assert normalized(out.getvalue()) == [
        f"● chat.said ({M}.Said) #N",
        f"  → {name}",
        f"  ✖ {name} cancelled",
    ]


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (TimeoutError(), "raised TimeoutError"),  # no message: the type alone
        (ValueError(""), "raised ValueError"),
        (ValueError("bad prompt"), "raised ValueError: bad prompt"),
    ],
)
def test_an_exception_prints_its_type_and_its_message_if_it_has_one(
    bus: MessageBus, error: Exception, said: str
) -> None:
    def fail(command: Turn) -> str:
        raise error

    def listens(event: Said) -> None:
        raise error

    bus.register_command(Turn, fail)
    bus.subscribe_event(Said, listens)
    out = io.StringIO()
    install_tracing(bus, out)
    with pytest.raises(type(error)):
        bus.dispatch(Turn(prompt="hi"))
    bus.emit(Said(text="hi"))
    lines = normalized(out.getvalue())
    assert lines[1] == f"✘ {M}.Turn #N {said} in T ms"
    assert f"  ✘ {M}.{listens.__qualname__} {said}" in lines


def test_an_exception_whose_str_fails_does_not_break_the_trace() -> None:
    out = io.StringIO()
    tracer = Tracer(out)
    command = Turn(prompt="hi")
    tracer.command_done(command, tracer.command_started(command), Unprintable(), None)
    assert (
        normalized(out.getvalue())[1] == f"✘ {M}.Turn #N raised Unprintable: <str() failed> in T ms"
    )


def binary_stream(encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict")


def written(stream: io.TextIOWrapper) -> list[str]:
    stream.flush()
    raw = stream.buffer.getvalue()  # type: ignore[attr-defined]
    return normalized(raw.decode(stream.encoding))


def traced_to(bus: MessageBus, stream: io.TextIOWrapper | None) -> None:
    def answer(command: Turn) -> str:
        bus.add_pending_event(Said(text=command.prompt))
        return "réponse"

    bus.register_command(Turn, answer)
    bus.subscribe_event(Said, lambda event: None)
    install_tracing(bus, stream)
    bus.dispatch(Turn(prompt="café"))


@pytest.mark.parametrize("encoding", ["ascii", "latin-1", "cp1252"])
def test_a_stream_that_cannot_encode_the_marks_gets_ascii_ones(
    bus: MessageBus, encoding: str
) -> None:
    stream = binary_stream(encoding)
    traced_to(bus, stream)  # no UnicodeEncodeError, though the stream's errors are strict
    # what the stream cannot encode is escaped; what it can is kept
    answer = "'r\\xe9ponse'" if encoding == "ascii" else "'réponse'"
    assert written(stream) == [
        f"> {M}.Turn #N",
        f"ok {M}.Turn #N -> {answer} in T ms",
        f"  * chat.said ({M}.Said) #N",
        f"    -> {M}.traced_to.<locals>.<lambda>",
    ]


def test_a_utf8_stream_keeps_the_unicode_marks(bus: MessageBus) -> None:
    stream = binary_stream("utf-8")
    traced_to(bus, stream)
    assert written(stream)[:2] == [
        f"▶ {M}.Turn #N",
        f"✔ {M}.Turn #N -> 'réponse' in T ms",
    ]


def test_the_marks_follow_stderr_when_it_is_replaced(
    bus: MessageBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default stream is sys.stderr at each write; its marks are chosen once for
    # each stream it is, not once for the first.
    ascii_err, utf8_err = binary_stream("ascii"), binary_stream("utf-8")
    monkeypatch.setattr(sys, "stderr", ascii_err)
    traced_to(bus, None)
    monkeypatch.setattr(sys, "stderr", utf8_err)
    bus.dispatch(Turn(prompt="again"))
    assert written(ascii_err)[0].startswith("> ")
    assert written(utf8_err)[0].startswith("▶ ")
