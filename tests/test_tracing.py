"""LLMGINE_TRACE / ``llmgine trace``: the tree of commands and events, printed as it happens."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import llmgine.tracing
import pytest
from llmgine.messages import Command, Event, MessageBus, message_bus
from llmgine.plugins import register_handlers
from llmgine.tracing import install_tracing

from .threads import race


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


class Unheard(Event):
    event_type = "nobody.listens"


def place(command: PlaceOrder) -> str:
    message_bus.add_pending_event(OrderPlaced(item=command.item))
    message_bus.add_pending_event(Unheard())
    return "o_1"


def charge(command: ChargeCard) -> str:
    if command.amount < 0:
        raise ValueError("negative amount")
    return "ch_1"


def make_bus(bus: MessageBus) -> None:
    bus.register_command(PlaceOrder, place)
    bus.register_command(ChargeCard, charge)

    def send_receipt(event: OrderPlaced) -> None:
        bus.dispatch(ChargeCard(amount=5))

    bus.subscribe_event(OrderPlaced, send_receipt)


def normalized(text: str) -> list[str]:
    text = re.sub(r"#[0-9a-f]+", "#N", text)
    return re.sub(r"in \d+\.\d ms", "in T ms", text).splitlines()


M = __name__  # test_tracing, or tests.test_tracing
EXPECTED = [
    f"▶ {M}.PlaceOrder #N",
    f"✔ {M}.PlaceOrder #N -> 'o_1' in T ms",
    f"  ● order.placed ({M}.OrderPlaced) #N",
    f"    → {M}.make_bus.<locals>.send_receipt",
    f"    ▶ {M}.ChargeCard #N",
    f"    ✔ {M}.ChargeCard #N -> 'ch_1' in T ms",
    f"  ● nobody.listens ({M}.Unheard) #N",
]


def test_prints_commands_and_the_events_they_caused_indented_by_cause(bus: MessageBus) -> None:
    make_bus(bus)
    out = io.StringIO()
    assert install_tracing(bus, out) is install_tracing(bus)  # once per bus
    bus.dispatch(PlaceOrder(item="book"))
    assert normalized(out.getvalue()) == EXPECTED


def test_async_paths_print_the_same_tree(bus: MessageBus) -> None:
    make_bus(bus)
    out = io.StringIO()
    install_tracing(bus, out)
    asyncio.run(bus.dispatch_async(PlaceOrder(item="book")))
    assert normalized(out.getvalue()) == EXPECTED


def test_failures_are_printed(bus: MessageBus) -> None:
    make_bus(bus)

    def broken(event: OrderPlaced) -> None:
        raise RuntimeError("no paper")

    bus.subscribe_event(OrderPlaced, broken)
    out = io.StringIO()
    install_tracing(bus, out)
    with pytest.raises(ValueError, match="negative"):
        bus.dispatch(ChargeCard(amount=-1))
    bus.emit(OrderPlaced(item="x"))
    lines = normalized(out.getvalue())
    assert lines[:2] == [
        f"▶ {M}.ChargeCard #N",
        f"✘ {M}.ChargeCard #N raised ValueError: negative amount in T ms",
    ]
    assert (
        f"  ✘ {M}.test_failures_are_printed.<locals>.broken raised RuntimeError: no paper" in lines
    )
    assert "  ● system.bus.error (llmgine.messages.events.SystemEvent) #N" in lines


@dataclass
class CardCharged(Event):
    event_type = "card.charged"


@pytest.mark.parametrize("use_async", [False, True])
def test_an_event_is_printed_once_when_a_subscriber_caused_events_of_its_own(
    use_async: bool, bus: MessageBus
) -> None:
    def charge_and_record(command: ChargeCard) -> str:
        bus.add_pending_event(CardCharged())
        return "ch_1"

    bus.register_command(ChargeCard, charge_and_record)
    bus.subscribe_event(OrderPlaced, lambda e: bus.dispatch(ChargeCard(amount=5)))
    bus.subscribe_event(OrderPlaced, lambda e: None)
    out = io.StringIO()
    install_tracing(bus, out)
    if use_async:
        asyncio.run(bus.emit_async(OrderPlaced(item="x")))
    else:
        bus.emit(OrderPlaced(item="x"))
    lines = normalized(out.getvalue())
    # the second subscriber of order.placed ran after card.charged was delivered
    assert [line.strip()[:14] for line in lines if "●" in line] == [
        "● order.placed",
        "● card.charged",
    ]
    assert lines[-1].startswith("  → ")  # still indented under order.placed
    assert "<lambda>" in lines[-1]


def test_env_var_makes_register_handlers_install_the_tracer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "")  # no installed plugin is needed here
    bus = MessageBus.isolated()
    make_bus(bus)
    register_handlers(bus)
    bus.dispatch(ChargeCard(amount=1))
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("LLMGINE_TRACE", "1")
    register_handlers(bus)
    bus.dispatch(ChargeCard(amount=1))
    assert normalized(capsys.readouterr().err) == [
        f"▶ {M}.ChargeCard #N",
        f"✔ {M}.ChargeCard #N -> 'ch_1' in T ms",
    ]


def test_llmgine_trace_runs_the_program_with_the_env_var() -> None:
    cli = [sys.executable, "-m", "llmgine.cli", "trace"]
    code = "import os, sys; print(os.environ['LLMGINE_TRACE']); sys.exit(3)"
    result = subprocess.run(
        [*cli, "--", sys.executable, "-c", code], capture_output=True, text=True
    )
    assert (result.returncode, result.stdout) == (3, "1\n")
    result = subprocess.run(cli, capture_output=True, text=True)
    assert result.returncode == 2
    assert "give the program to run" in result.stderr


@pytest.mark.skipif(os.name != "posix", reason="process groups and SIGINT")
def test_llmgine_trace_leaves_ctrl_c_to_the_program() -> None:
    # Ctrl-C at a terminal sends SIGINT to the whole foreground process group. llmgine
    # trace died of it with a KeyboardInterrupt traceback and killed the program a
    # quarter second later, in the middle of its own shutdown.
    code = (
        "import sys\n"
        "try:\n"
        "    print('ready', flush=True)\n"
        "    sys.stdin.read()\n"
        "except KeyboardInterrupt:\n"
        "    print('clean shutdown', flush=True)\n"
        "    sys.exit(3)\n"
    )
    program = subprocess.Popen(
        [sys.executable, "-m", "llmgine.cli", "trace", "--", sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal job has
    )
    assert program.stdout is not None
    assert program.stdout.readline() == "ready\n"
    os.killpg(program.pid, signal.SIGINT)
    out, err = program.communicate()
    assert (program.returncode, out, err) == (3, "clean shutdown\n", "")


def test_llmgine_trace_says_when_the_program_cannot_be_run(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text("print('hi')\n")  # not executable
    result = subprocess.run(
        [sys.executable, "-m", "llmgine.cli", "trace", "--", str(script)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 126
    assert result.stderr == f"llmgine trace: cannot run {script}: Permission denied\n"


def test_dispatches_on_many_threads_survive_the_tracer_memory_filling_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Once the memory is full every message evicts the oldest; threads evicting at once
    # made dispatch raise KeyError (or RuntimeError) from the tracer's middleware.
    monkeypatch.setattr(llmgine.tracing, "_MEMORY", 2)
    bus = MessageBus.isolated()
    make_bus(bus)
    install_tracing(bus, io.StringIO())
    errors: list[BaseException] = []

    def work() -> None:
        for _ in range(3000):
            try:
                bus.dispatch(ChargeCard(amount=1))
            except Exception as exc:
                errors.append(exc)

    race(work, work, work, work)
    assert errors == []


def test_concurrent_dispatches_say_which_one_finished(bus: MessageBus) -> None:
    release = asyncio.Event()

    async def first_waits(command: ChargeCard) -> str:
        if command.amount == 1:
            await release.wait()
        else:
            release.set()
        return f"ch_{command.amount}"

    bus.register_command(ChargeCard, first_waits)
    out = io.StringIO()
    install_tracing(bus, out)
    one, two = ChargeCard(amount=1), ChargeCard(amount=2)

    async def both() -> None:
        await asyncio.gather(bus.dispatch_async(one), bus.dispatch_async(two))

    asyncio.run(both())
    done = [line for line in out.getvalue().splitlines() if line.startswith("✔")]
    assert [line.split(" -> ")[0] for line in done] == [
        f"✔ {M}.ChargeCard #{two.command_id.rpartition('-')[2]}",
        f"✔ {M}.ChargeCard #{one.command_id.rpartition('-')[2]}",
    ]
