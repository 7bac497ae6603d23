"""What the runner measures, part 1: floors (plain Python) and peers (other libraries).

llmgine's own cases are in ``llmgine_cases``. Every case is a statement plus the
names it uses (built by a setup function), a floor to compare with, the peers it
competes with, and the targets of issue 4.
Peer cases whose library is not installed are skipped, not failed.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import attrs

__all__ = [
    "FLOORS",
    "PEERS",
    "Case",
    "Plain3",
    "Target",
    "async_fns",
    "skip_reason",
    "sync_fns",
]

Env = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """A bar from issue 4: ``value / ref <= limit`` ("ratio") or ``ref / value >= limit``."""

    ref: str
    limit: float
    kind: str = "ratio"  # or "faster"

    def describe(self) -> str:
        if self.kind == "ratio":
            return f"<= {self.limit:g}x {self.ref}"
        return f">= {self.limit:g}x faster than {self.ref}"

    def ratio(self, value: float, ref: float) -> float:
        return value / ref if self.kind == "ratio" else ref / value

    def met(self, value: float, ref: float) -> bool:
        r = self.ratio(value, ref)
        return r <= self.limit if self.kind == "ratio" else r >= self.limit


@dataclass
class Case:
    """One measured statement."""

    name: str
    group: str  # floor | peer | llmgine
    label: str
    stmt: str
    setup: Callable[[], Env]
    is_async: bool = False
    floor: str | None = None
    peers: tuple[str, ...] = ()
    targets: tuple[Target, ...] = ()
    needs: str | None = None  # import name of the peer library
    min_python: tuple[int, int] | None = None  # e.g. (3, 12) for eager tasks
    extra: dict[str, Any] = field(default_factory=dict)


def skip_reason(case: Case) -> str | None:
    """Why ``case`` cannot run here (a peer not installed, an older CPython), or None."""
    import importlib.util

    if case.needs and importlib.util.find_spec(case.needs) is None:
        return f"{case.needs} not installed"
    if case.min_python and sys.version_info < case.min_python:
        return "needs CPython >= {}.{}".format(*case.min_python)
    return None


# Shared building blocks -------------------------------------------------------------


def sync_fns(n: int) -> list[Callable[[Any], None]]:
    def make() -> Callable[[Any], None]:
        def subscriber(message: Any) -> None:
            return None

        return subscriber

    return [make() for _ in range(n)]


def async_fns(n: int) -> list[Callable[[Any], Any]]:
    def make() -> Callable[[Any], Any]:
        async def subscriber(message: Any) -> None:
            return None

        return subscriber

    return [make() for _ in range(n)]


class Plain3:
    """The construction floor: a plain class with ``__slots__`` and 3 fields."""

    __slots__ = ("a", "b", "c")

    def __init__(self, a: int, b: int, c: int) -> None:
        self.a = a
        self.b = b
        self.c = c


@attrs.frozen
class AttrsUuidTime:
    """The issue's "frozen attrs message, 3 fields + uuid4 + time" reference."""

    a: int
    b: int
    c: int
    id: str = attrs.field(factory=lambda: str(uuid.uuid4()))
    timestamp: datetime = attrs.field(factory=lambda: datetime.now(UTC))


# Floors ------------------------------------------------------------------------------


def _floor_env() -> Env:
    fns10, fns100 = sync_fns(10), sync_fns(100)
    afns10 = async_fns(10)
    handler = fns10[0]
    subscriber = fns10[1]

    def chain(message: Any) -> None:  # a handler that makes one message and passes it on
        subscriber(Plain3(1, 2, 3))

    def step(coroutine: Any) -> Any:  # what starting a coroutine eagerly costs
        try:
            coroutine.send(None)
        except StopIteration as done:
            return done.value
        return None

    async def tasks(fns: list[Any], message: Any) -> None:
        # The floor of emit_async to async subscribers: one task each, all awaited.
        started = [create_task(f(message)) for f in fns]
        for task in started:
            await task

    async def eager_tasks(fns: list[Any], message: Any) -> None:
        # The same with eager tasks (CPython >= 3.12): a coroutine that does not suspend
        # finishes inside create_task and is never scheduled.
        loop = asyncio.get_running_loop()
        started = [eager(loop, f(message)) for f in fns]
        for task in started:
            await task

    eager = getattr(asyncio, "eager_task_factory", None)
    create_task = asyncio.create_task
    return {
        "tasks": tasks,
        "eager_tasks": eager_tasks,
        "var": contextvars.ContextVar("bench_var", default=None),
        "now": datetime.now,
        "UTC": UTC,
        "step": step,
        "msg": Plain3(1, 2, 3),
        "handler": handler,
        "ahandler": afns10[0],
        "table": {Plain3: handler},
        "fns10": fns10,
        "fns100": fns100,
        "afns10": afns10,
        "chain": chain,
        "gather": asyncio.gather,
        "copy_context": contextvars.copy_context,
        "Plain3": Plain3,
        "uuid4": uuid.uuid4,
        "AttrsUuidTime": AttrsUuidTime,
    }


FLOORS = [
    Case("empty", "floor", "empty loop step (included in every figure)", "pass", _floor_env),
    Case("call", "floor", "direct call handler(msg)", "handler(msg)", _floor_env),
    Case(
        "dict", "floor", "dict dispatch table[type(msg)](msg)", "table[type(msg)](msg)", _floor_env
    ),
    Case("loop10", "floor", "loop calling 10 functions", "for f in fns10: f(msg)", _floor_env),
    Case("loop100", "floor", "loop calling 100 functions", "for f in fns100: f(msg)", _floor_env),
    Case("chain", "floor", "handler builds a message, calls 1 fn", "chain(msg)", _floor_env),
    Case("slots3", "floor", "plain __slots__ class, 3 fields", "Plain3(1, 2, 3)", _floor_env),
    Case("uuid4", "floor", "uuid.uuid4() alone", "uuid4()", _floor_env),
    Case(
        "attrs_uuid_time",
        "floor",
        "frozen attrs message, 3 fields + uuid4 + time",
        "AttrsUuidTime(1, 2, 3)",
        _floor_env,
    ),
    # Building blocks no bus can skip, for reading the ratios (not floors of any row):
    Case(
        "ctxvar",
        "floor",
        "ContextVar set + reset (1 per dispatch/event)",
        "token = var.set(msg)\nvar.reset(token)",
        _floor_env,
    ),
    Case("utcnow", "floor", "datetime.now(UTC) alone", "now(UTC)", _floor_env),
    Case(
        "coro_step",
        "floor",
        "make a coroutine, run it to StopIteration",
        "step(ahandler(msg))",
        _floor_env,
    ),
    Case("await", "floor", "await handler(msg)", "await ahandler(msg)", _floor_env, True),
    Case(
        "await10",
        "floor",
        "await 10 async fns one by one",
        "for f in afns10: await f(msg)",
        _floor_env,
        True,
    ),
    # What running 10 non-suspending subscribers without a task each would cost at best
    # (issue 4's emit_async target): by hand, then each in a context of its own.
    Case(
        "drive10",
        "floor",
        "run 10 async fns by hand (coro.send), no tasks",
        "for f in afns10:\n"
        "    c = f(msg)\n"
        "    try:\n"
        "        c.send(None)\n"
        "    except StopIteration:\n"
        "        pass",
        _floor_env,
    ),
    Case(
        "drive10_ctx",
        "floor",
        "the same, each in a copied context (isolated)",
        "for f in afns10:\n"
        "    c = f(msg)\n"
        "    try:\n"
        "        copy_context().run(c.send, None)\n"
        "    except StopIteration:\n"
        "        pass",
        _floor_env,
    ),
    Case(
        "tasks10",
        "floor",
        "start 10 tasks (1 per coroutine), await each",
        "await tasks(afns10, msg)",
        _floor_env,
        True,
    ),
    Case(
        "tasks10_eager",
        "floor",
        "the same with eager tasks (3.12+)",
        "await eager_tasks(afns10, msg)",
        _floor_env,
        True,
        min_python=(3, 12),
    ),
    Case(
        "gather10",
        "floor",
        "await asyncio.gather(10 coroutines)",
        "await gather(*[f(msg) for f in afns10])",
        _floor_env,
        True,
    ),
]


# Peers -------------------------------------------------------------------------------


def _pyee(n: int) -> Callable[[], Env]:
    def setup() -> Env:
        from pyee import EventEmitter

        ee = EventEmitter()
        for fn in sync_fns(n):
            ee.on("event", fn)
        return {"ee": ee, "msg": Plain3(1, 2, 3)}

    return setup


def _blinker(n: int) -> Callable[[], Env]:
    def setup() -> Env:
        import blinker

        signal = blinker.Signal()
        fns = sync_fns(n)
        for fn in fns:
            signal.connect(fn)
        return {"signal": signal, "msg": Plain3(1, 2, 3), "_keep": fns}  # receivers are weak

    return setup


def _pluggy(n: int) -> Callable[[], Env]:
    def setup() -> Env:
        import pluggy

        spec, impl = pluggy.HookspecMarker("benchpeer"), pluggy.HookimplMarker("benchpeer")

        class Spec:
            @spec
            def on_event(self, msg: Any) -> None: ...

        pm = pluggy.PluginManager("benchpeer")
        pm.add_hookspecs(Spec)
        for _ in range(n):

            class Plugin:
                @impl
                def on_event(self, msg: Any) -> None:
                    return None

            pm.register(Plugin())
        return {"hook": pm.hook, "msg": Plain3(1, 2, 3)}

    return setup


def _lato() -> Env:
    import lato

    app = lato.Application("bench")

    class Ping(lato.Command):
        a: int

    @app.handler(Ping)
    def handle(command: Ping) -> int:
        return command.a

    return {"app": app, "cmd": Ping(a=1)}


def _pydantic() -> Env:
    """What FastStream's and bubus's users construct: pydantic v2 models with the same
    fields, validated (strictly, as the core's validators are), a uuid4 id and an aware
    timestamp."""
    from typing import Annotated

    from pydantic import BaseModel, ConfigDict, Field

    Text = Annotated[str, Field(min_length=1)]

    class Message(BaseModel):
        model_config = ConfigDict(frozen=True, strict=True)
        id: uuid.UUID = Field(default_factory=uuid.uuid4)
        timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))

    class Tick(Message):
        a: int
        b: int
        c: int

    class ResourceCreated(Message):
        resource_id: Text
        resource_type: Text
        resource_data: dict[str, Any] = Field(default_factory=dict)

    return {"Tick": Tick, "ResourceCreated": ResourceCreated, "data": {"title": "x"}}


PEERS = [
    Case(
        "pydantic_tick",
        "peer",
        "new pydantic v2 model, 3 int fields + uuid4 + aware time",
        "Tick(a=1, b=2, c=3)",
        _pydantic,
        needs="pydantic",
    ),
    Case(
        "pydantic_resource",
        "peer",
        "new pydantic v2 model like ResourceCreatedEvent",
        "ResourceCreated(resource_id='r1', resource_type='doc', resource_data=data)",
        _pydantic,
        needs="pydantic",
    ),
    Case(
        "pyee_1", "peer", "pyee emit, 1 listener", "ee.emit('event', msg)", _pyee(1), needs="pyee"
    ),
    Case(
        "pyee_10",
        "peer",
        "pyee emit, 10 listeners",
        "ee.emit('event', msg)",
        _pyee(10),
        needs="pyee",
    ),
    Case(
        "blinker_1",
        "peer",
        "blinker send, 1 receiver",
        "signal.send(msg)",
        _blinker(1),
        needs="blinker",
    ),
    Case(
        "blinker_10",
        "peer",
        "blinker send, 10 receivers",
        "signal.send(msg)",
        _blinker(10),
        needs="blinker",
    ),
    Case(
        "pluggy_1",
        "peer",
        "pluggy hook call, 1 impl",
        "hook.on_event(msg=msg)",
        _pluggy(1),
        needs="pluggy",
    ),
    Case(
        "pluggy_10",
        "peer",
        "pluggy hook call, 10 impls",
        "hook.on_event(msg=msg)",
        _pluggy(10),
        needs="pluggy",
    ),
    Case("lato", "peer", "lato execute(cmd), 1 handler", "app.execute(cmd)", _lato, needs="lato"),
]
