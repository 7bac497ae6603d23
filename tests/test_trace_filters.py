"""Trace filters: ``only`` (``--only``, ``LLMGINE_TRACE_ONLY``) and ``depth`` (``--depth``,
``LLMGINE_TRACE_DEPTH``), from the parameters, the environment and ``llmgine trace``."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from llmgine.messages import Command, Event, MessageBus
from llmgine.tracing import install_tracing


@dataclass
class PlaceOrder(Command[str]):
    item: str


@dataclass
class ChargeCard(Command[str]):
    amount: int


@dataclass
class OrderPlaced(Event):
    event_type = "order.placed"
    item: str


M = __name__


def traced(bus: MessageBus, **filters: object) -> list[str]:
    """Dispatch PlaceOrder (-> OrderPlaced -> send_receipt -> ChargeCard); the lines."""

    def place(command: PlaceOrder) -> str:
        bus.add_pending_event(OrderPlaced(item=command.item))
        return "o_1"

    def send_receipt(event: OrderPlaced) -> None:
        bus.dispatch(ChargeCard(amount=5))

    bus.register_command(PlaceOrder, place)
    bus.register_command(ChargeCard, lambda command: "ch_1")
    bus.subscribe_event(OrderPlaced, send_receipt)
    out = io.StringIO()
    install_tracing(bus, out, **filters)  # type: ignore[arg-type]
    bus.dispatch(PlaceOrder(item="book"))
    text = re.sub(r"#[0-9a-f]+", "#N", out.getvalue())
    return re.sub(r"in \d+\.\d ms", "in T ms", text).splitlines()


EVERYTHING = [
    f"▶ {M}.PlaceOrder #N",
    f"✔ {M}.PlaceOrder #N -> 'o_1' in T ms",
    f"  ● order.placed ({M}.OrderPlaced) #N",
    f"    → {M}.traced.<locals>.send_receipt",
    f"    ▶ {M}.ChargeCard #N",
    f"    ✔ {M}.ChargeCard #N -> 'ch_1' in T ms",
]
COMMANDS = [EVERYTHING[i] for i in (0, 1, 4, 5)]
CHARGE = [EVERYTHING[4], EVERYTHING[5]]


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        (f"{M}.ChargeCard", CHARGE),  # the dotted name
        ("ChargeCard", CHARGE),  # the class name
        ("*Card", CHARGE),
        ("order.*", EVERYTHING[2:4]),  # an event type: the event and its subscriber calls
        ("OrderPlaced", EVERYTHING[2:4]),
        ("ChargeCard, order.placed", EVERYTHING[2:]),
        (["ChargeCard", "PlaceOrder"], COMMANDS),  # a list of patterns
        ("!order.placed", COMMANDS),  # excluded: lines under it keep their depth
        ("*Order*,!OrderPlaced", EVERYTHING[:2]),
        ("chargecard", []),  # case matters, as in the type names
    ],
)
def test_only_keeps_the_lines_about_matching_message_types(
    bus: MessageBus, only: object, expected: list[str]
) -> None:
    assert traced(bus, only=only) == expected


@pytest.mark.parametrize(
    ("depth", "expected"),
    [(0, EVERYTHING[:2]), (1, EVERYTHING[:3]), (2, EVERYTHING), (7, EVERYTHING)],
)
def test_depth_hides_the_lines_nested_deeper(
    bus: MessageBus, depth: int, expected: list[str]
) -> None:
    assert traced(bus, depth=depth) == expected


def test_both_filters_together(bus: MessageBus) -> None:
    assert traced(bus, only="!PlaceOrder", depth=1) == [EVERYTHING[2]]


def test_the_environment_gives_the_filters_the_parameters_do_not(
    bus: MessageBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMGINE_TRACE_ONLY", "ChargeCard,PlaceOrder")
    monkeypatch.setenv("LLMGINE_TRACE_DEPTH", "0")
    assert traced(bus) == EVERYTHING[:2]
    assert traced(MessageBus.isolated(), depth=5) == COMMANDS  # a parameter wins
    monkeypatch.setenv("LLMGINE_TRACE_ONLY", "")  # empty: no filter
    monkeypatch.delenv("LLMGINE_TRACE_DEPTH")
    assert traced(MessageBus.isolated()) == EVERYTHING


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("LLMGINE_TRACE_DEPTH", "-1", "must be 0 or more"),
        ("LLMGINE_TRACE_DEPTH", "two", "must be a whole number, 0 or more, not 'two'"),
        ("LLMGINE_TRACE_ONLY", ",", "no pattern given"),
        ("LLMGINE_TRACE_ONLY", "!", "'!' must be followed by a pattern to exclude"),
    ],
)
def test_a_bad_value_in_the_environment_is_warned_about_and_ignored(
    bus: MessageBus, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.warns(RuntimeWarning, match=rf"^{variable}='{re.escape(value)}' is ignored: "):
        lines = traced(bus)
    assert lines == EVERYTHING  # the program still runs, traced


@pytest.mark.parametrize(
    ("filters", "problem"),
    [
        ({"depth": -1}, "must be 0 or more"),
        ({"depth": "x"}, "must be a whole number, 0 or more, not 'x'"),
        ({"depth": True}, "must be a whole number"),
        ({"only": ""}, "no pattern given"),
        ({"only": " , "}, "no pattern given"),
        ({"only": []}, "no pattern given"),
        ({"only": "a,!"}, "'!' must be followed by a pattern"),
    ],
)
def test_bad_parameters_raise_naming_the_problem(
    bus: MessageBus, filters: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        install_tracing(bus, io.StringIO(), **filters)  # type: ignore[arg-type]
    assert bus.middleware.command == ()  # nothing installed


CLI = [sys.executable, "-m", "llmgine.cli", "trace"]
SHOW_ENV = (
    "import os; print([os.environ.get(v) for v in "
    "('LLMGINE_TRACE', 'LLMGINE_TRACE_ONLY', 'LLMGINE_TRACE_DEPTH')])"
)


def test_llmgine_trace_passes_the_filters_to_the_program() -> None:
    args = [*CLI, "--only", "app.*,!app.Token", "--depth", "2", "--", sys.executable]
    done = subprocess.run([*args, "-c", SHOW_ENV], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "['1', 'app.*,!app.Token', '2']\n")


@pytest.mark.parametrize(
    ("option", "problem"),
    [
        (
            ["--depth", "-1"],
            "argument --depth: must be 0 or more (0 shows the top level only), not -1",
        ),
        (["--depth", "x"], "argument --depth: must be a whole number, 0 or more, not 'x'"),
        (["--only", ""], "argument --only: no pattern given (comma-separated fnmatch patterns"),
        (["--only", "!"], "argument --only: '!' must be followed by a pattern to exclude"),
    ],
)
def test_llmgine_trace_refuses_bad_filters(option: list[str], problem: str) -> None:
    done = subprocess.run(
        [*CLI, *option, "--", sys.executable, "-c", SHOW_ENV], capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert f"llmgine trace: error: {problem}" in done.stderr


STREAMING = """\
    import asyncio
    from dataclasses import dataclass

    from llmgine.messages import Command, Event, MessageBus
    from llmgine.plugins import register_handlers


    @dataclass
    class Turn(Command[str]):
        prompt: str


    @dataclass
    class TokenStreamed(Event):
        event_type = "chat.token"
        text: str


    @dataclass
    class TurnFinished(Event):
        event_type = "chat.turn_finished"


    bus = MessageBus.isolated()


    async def turn(command: Turn) -> str:
        for i in range(200):
            await bus.emit_async(TokenStreamed(text=f"t{i}"))
        bus.add_pending_event(TurnFinished())
        return "done"


    bus.register_command(Turn, turn)
    bus.subscribe_event(TokenStreamed, lambda event: None)
    register_handlers(bus)


    async def main() -> None:
        for n in range(4):
            await bus.dispatch_async(Turn(prompt=f"question {n}"))


    asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("filters", "lines"),
    [
        # per turn: the command's 2 lines, 200 tokens x (event + subscriber), the end event
        ([], 4 * (2 + 200 * 2 + 1)),
        (["--depth", "1"], 4 * (2 + 200 + 1)),
        (["--depth", "0"], 4 * 2),
        (["--only", "!chat.token"], 4 * (2 + 1)),
        (["--only", "Turn"], 4 * 2),
    ],
)
def test_a_streamed_chat_of_200_tokens_in_4_turns(
    tmp_path: Path, filters: list[str], lines: int
) -> None:
    program = tmp_path / "chat.py"
    program.write_text(textwrap.dedent(STREAMING))
    env = {"LLMGINE_LOAD_PLUGINS": "", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [*CLI, *filters, "--", sys.executable, str(program)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stderr.splitlines()) == lines
