"""Checked by tests/test_typing.py with mypy --strict, never imported or run.

A trailing "R" marker gives what ``reveal_type`` on that line must show, an "E"
marker the error codes mypy must report on that line; no line without an "E"
marker may have an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, reveal_type

import llmgine
from llmgine.messages import Command, Event, MessageBus
from llmgine.messages.commands import CreateResourceCommand
from llmgine.plugins import Register, Subscribe


@dataclass
class Greet(Command[str]):
    name: str


@dataclass
class Count(Command[int]):
    n: int


class Untyped(Command):  # type: ignore[type-arg]
    pass


@dataclass
class Greeted(Event):
    name: str


def handle_greet(command: Greet) -> str:
    return f"hello {command.name}"


def handle_count(command: Count) -> int:
    return command.n


def handle_any_command(command: Command[Any]) -> str:
    return "ok"


def greet_returns_int(command: Greet) -> int:
    return 1


def on_greeted(event: Greeted) -> None:
    pass


bus = MessageBus.isolated()

reveal_type(bus.dispatch(Greet(name="ada")))  # R: str
reveal_type(bus.dispatch(Count(n=1)))  # R: int
reveal_type(bus.dispatch(CreateResourceCommand("t", {})))  # R: str
reveal_type(bus.dispatch(Untyped()))  # R: Any


async def use_async() -> None:
    reveal_type(await bus.dispatch_async(Greet(name="ada")))  # R: str


bus.register_command(Greet, handle_greet)
bus.register_command(Greet, handle_any_command)  # a handler of a base class fits
bus.register_command(Greet, lambda command: command.name)
bus.register_command(Greet, handle_count)  # E: arg-type
bus.register_command(Greet, greet_returns_int)  # E: arg-type
bus.register_command(Count, handle_greet)  # E: arg-type
# A lambda is not checked: it may be either kind of handler, so its argument is Any.
bus.register_command(Greet, lambda command: command.n)
bus.register_command(int, handle_count)  # E: arg-type, type-var
bus.register_command(Untyped, handle_greet)  # E: arg-type
bus.register_command(Untyped, lambda command: 42)  # Command without [R]: any result goes

bus.subscribe_event(Greeted, on_greeted)
bus.subscribe_event("Greeted", on_greeted)  # by name the class is unknown: accepted
bus.subscribe_event(Event, on_greeted)  # E: arg-type


@llmgine.hookimpl
def register_commands(register: Register) -> None:
    register(Greet, handle_greet)
    register(Count, handle_count)
    register(Count, handle_greet)  # E: arg-type


@llmgine.hookimpl
def register_subscribers(subscribe: Subscribe) -> None:
    subscribe(Greeted, on_greeted)
    subscribe("greeting.*", on_greeted)
    subscribe(Event, on_greeted)  # E: arg-type
    subscribe(Greeted, on_greeted, priority=5)  # subscribe_event's keywords
    subscribe("greeting.*", on_greeted, priority=-1, background=True, overflow="drop_oldest")
    subscribe(Greeted, on_greeted, priority="high")  # E: call-overload
    subscribe(Greeted, on_greeted, overflow="sometimes")  # E: call-overload
    subscribe(Greeted, on_greeted, priorty=5)  # E: call-overload


def create_returns_int(command: CreateResourceCommand) -> int:
    return 1


bus.register_command(CreateResourceCommand, create_returns_int)  # E: arg-type


async def greet_later(command: Greet) -> str:
    return command.name


async def greet_later_returns_int(command: Greet) -> int:
    return 1


bus.register_command(Greet, greet_later)  # an async def handler fits too
bus.register_command(Greet, greet_later_returns_int)  # E: arg-type


async def use_waiting() -> None:
    reveal_type(await bus.wait_for(Greeted))  # R: tests.typecheck.sample_types.Greeted
    reveal_type(await bus.wait_for("greeting.*", timeout=5))  # R: llmgine.messages.events.Event
    waiter = bus.expect(Greeted, where=lambda event: event.name == "ada")
    reveal_type(waiter)  # R: llmgine.messages._waiting.Waiter[tests.typecheck.sample_types.Greeted]
    reveal_type(await waiter)  # R: tests.typecheck.sample_types.Greeted
    bus.expect(Greeted, where=lambda event: event.nme)  # E: attr-defined
    bus.expect(Greeted, timeout="5")  # E: call-overload


# A session's own handlers, subscribers and dispatch are typed as the bus's.
session = bus.session()
reveal_type(session.dispatch(Greet(name="ada")))  # R: str
session.register_command(Greet, handle_greet)
session.register_command(Greet, greet_later)
session.register_command(Greet, handle_count)  # E: arg-type
session.subscribe_event(Greeted, on_greeted)
session.subscribe_event(Event, on_greeted)  # E: arg-type


async def use_session_async() -> None:
    reveal_type(await session.dispatch_async(Count(n=1)))  # R: int
    async with bus.session("s") as inner:
        reveal_type(inner)  # R: llmgine.messages._sessions.Session
