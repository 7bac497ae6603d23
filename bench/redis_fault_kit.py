"""The fault script's harness: what every case runs its fault with and counts with.

A case (in ``redis_fault_outages.py`` or ``redis_fault_load.py``) runs in a process of
its own with a :class:`Scene`: throwaway ``redis-server``s (``scene.server()``, the
first being the server under test), workers in subprocesses that a supervisor restarts
as they die (``scene.workers()``), publishers (``scene.publisher()``) and remote command
calls (``scene.call()``). :meth:`Scene.row` compares what the subscribers recorded on
the tally server (see :mod:`redis_fault_worker`) with what the publishers were told and
with what the server under test holds (:mod:`redis_fault_inspect`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import llmgine_redis
import redis
from llmgine.messages.bus import MessageBus
from llmgine.messages.events import ResourceDeletedEvent
from redis_fault_inspect import dead_letters, unfinished
from redis_fault_report import Row, counts
from redis_fault_worker import (
    GROUP,
    PREFIX,
    Burst,
    Probe,
    Republish,
    Slot,
    faultkit,
    register_messages,
)

T = TypeVar("T")

# The scene of one case ------------------------------------------------------------


class Scene:
    """Servers, workers, publishers and the counts of one case; :meth:`close` stops them all."""

    def __init__(self, tmp: Path, quick: bool, progress: Path | None = None) -> None:
        self.tmp, self.quick, self.progress = tmp, quick, progress
        self.servers: list[Any] = []
        self.proxies: list[Any] = []
        self.slots: list[Slot] = []
        self.buses: list[MessageBus] = []
        self._supervising = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.redis: Any = None  # the server under test: the first one a case starts
        self.tally_server = self.server(persist=False)
        self.tally: Any = self.tally_server.client()
        self.tally_url: str = self.tally_server.url
        self.sent: dict[str, None] = {}
        self.accepted: set[str] = set()
        self.raised = 0
        self.errors: Counter[str] = Counter()
        #: the first message of each type of error publishers raised
        self.first_errors: dict[str, str] = {}
        self.expected_dead: set[str] = set()
        self.dups_allowed = False
        self.errors_allowed = False
        self.fault_end: float | None = None
        self.notes: list[str] = []
        self.problems: list[str] = []
        register_messages()

    def pick(self, full: T, quick: T) -> T:
        """``full``, or ``quick`` with ``--quick``."""
        return quick if self.quick else full

    def phase(self, text: str) -> None:
        """Say what the case is doing (the parent shows it if the case hangs)."""
        if self.progress is not None:
            self.progress.write_text(text)

    def server(self, **options: Any) -> Any:
        """A started throwaway ``redis-server`` (``faultkit.Server`` options)."""
        directory = self.tmp / f"redis{len(self.servers)}"
        directory.mkdir()
        server = faultkit.Server(directory, **options)
        self.servers.append(server)
        server.start()
        if self.redis is None and len(self.servers) > 1:
            self.redis = server
        return server

    def proxy(self, port: int) -> Any:
        """A ``faultkit.Proxy`` to ``port`` that can partition."""
        self.proxies.append(faultkit.Proxy(port))
        return self.proxies[-1]

    # Workers --------------------------------------------------------------------

    def workers(
        self,
        count: int,
        url: str,
        start: str = "0",
        group: str = GROUP,
        commands: bool = True,
        clock_skew: float = 0.0,
        **settings: Any,
    ) -> list[Slot]:
        """Start ``count`` supervised workers on ``url`` (``settings`` go to install()).

        They consume events as ``group`` from ``start``, with ``commands`` serve
        :class:`Probe`, and have their wall clock ``clock_skew`` seconds ahead.
        """
        spec = {
            "url": url,
            "tally": self.tally_url,
            "start": start,
            "group": group,
            "commands": commands,
            "clock_skew": clock_skew,
            "settings": settings,
        }
        slots = []
        for _ in range(count):
            name = f"w{len(self.slots)}"
            slot = Slot(name, spec, self.tmp / f"{name}.log")
            slot.start()
            self.slots.append(slot)
            slots.append(slot)
        if self._supervisor is None:
            self._supervisor = threading.Thread(target=self._supervise, daemon=True)
            self._supervisor.start()
        return slots

    def _supervise(self) -> None:
        # Like systemd or Kubernetes: a worker that died is started again, half a second later.
        while not self._supervising.wait(0.1):
            for slot in list(self.slots):
                proc = slot.proc
                if slot.retired or proc is None or proc.poll() is None:
                    continue
                slot.deaths.append((time.monotonic(), proc.returncode))
                time.sleep(0.5)
                if not slot.retired and not self._supervising.is_set():
                    slot.start()

    def deaths(self) -> list[tuple[float, int]]:
        """Every worker death so far, in time order."""
        return sorted(d for slot in self.slots for d in slot.deaths)

    def note_deaths(self, allowed: bool) -> None:
        """Note how often workers died; a problem unless ``allowed``."""
        deaths = self.deaths()
        if deaths:
            codes = Counter(rc for _, rc in deaths)
            text = (
                f"worker exits: {len(deaths)} ("
                + ", ".join(f"rc={rc} x{n}" for rc, n in codes.items())
                + ")"
            )
            (self.notes if allowed else self.problems).append(text)

    # Publishing -----------------------------------------------------------------

    def publisher(self, url: str, **settings: Any) -> MessageBus:
        """A bus with the transport on ``url`` and a :class:`Burst` handler."""
        bus = MessageBus.isolated()

        def burst(command: Burst) -> None:
            command.made = [
                ResourceDeletedEvent(resource_id=k, resource_type=command.kind)
                for k in command.keys
            ]
            for event in command.made:
                bus.add_pending_event(event)

        def republish(command: Republish) -> None:
            for event in command.events:
                bus.add_pending_event(event)

        bus.register_command(Burst, burst)
        bus.register_command(Republish, republish)
        llmgine_redis.install(bus, url=url, prefix=PREFIX, **settings)
        self.buses.append(bus)
        return bus

    def publish(self, bus: MessageBus, keys: list[str], kind: str = "ok") -> bool:
        """Dispatch a :class:`Burst` of ``keys``; count them as sent, accepted or raised."""
        self.sent.update(dict.fromkeys(keys))
        try:
            bus.dispatch(Burst(keys, kind))
        except Exception as exc:
            self.failed(exc, len(keys))
            return False
        self.accepted.update(keys)
        return True

    def failed(self, exc: BaseException, count: int = 1) -> None:
        """Count ``count`` messages whose publish raised ``exc``."""
        self.raised += count
        self.errors[type(exc).__name__] += count
        self.first_errors.setdefault(type(exc).__name__, str(exc))

    def call(self, bus: MessageBus, probe: str, sleep: float = 0.0, guard: float = 60.0) -> Call:
        """Dispatch a remote :class:`Probe` in a thread of its own; see :class:`Call`."""
        key = "cmd:" + probe
        self.sent[key] = None
        return Call(self, bus, key, Probe(probe, sleep), guard)

    # Waiting and counting -----------------------------------------------------------

    def wait(self, condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
        """Poll ``condition`` until true (True) or ``timeout`` s passed (False)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(step)
        return True

    def runs(self) -> dict[str, int]:
        """key -> how many times its subscriber (or handler) completed."""
        return {k.decode(): int(v) for k, v in self.tally.hgetall("runs").items()}

    def flags(self, name: str) -> int:
        """How often :meth:`Recorder.flag` was called with ``name``."""
        return int(self.tally.hget("flags", name) or 0)

    def dead(self) -> dict[str, str]:
        """key -> reason of every dead letter on the server under test."""
        with contextlib.closing(self.redis.client()) as client:
            return dead_letters(client)

    def pending(self) -> int:
        """:func:`~redis_fault_inspect.unfinished` on the server under test."""
        with contextlib.closing(self.redis.client()) as client:
            return unfinished(client)

    def settled(self) -> bool:
        """Every accepted message delivered or dead-lettered, nothing unread or unacknowledged."""
        try:
            done = set(self.runs()) | set(self.dead())
        except redis.RedisError:
            return False
        return self.accepted <= done and self.pending() == 0

    def settle(self, timeout: float) -> bool:
        """Wait (up to ``timeout`` s) until :meth:`settled`; note it if it never was."""
        if self.wait(self.settled, timeout, 0.2):
            return True
        self.notes.append(f"not settled after {timeout:.0f}s")
        return False

    def row(self, fault: int, title: str) -> Row:
        """The counts of this case against the guarantee (the server under test must answer)."""
        runs = {k: n for k, n in self.runs().items() if k in self.sent}
        dead = self.dead()
        at = [float(t) for k, t in self.tally.hgetall("at").items() if k.decode() in runs]
        lost = self.accepted - set(runs) - set(dead)
        unexpected = set(dead) - self.expected_dead
        dups = sum(n - 1 for n in runs.values())
        problems = []
        pending = self.pending()
        if lost:
            waiting = f"; {pending} unread or unacknowledged in Redis" if pending > 0 else ""
            problems.append(
                f"{len(lost)} lost (accepted, neither delivered nor dead-lettered{waiting})"
            )
        if unexpected:
            reasons = Counter(dead[k] for k in unexpected)
            problems.append(
                f"{len(unexpected)} dead-lettered that should have been delivered "
                f"({counts(reasons)})"
            )
        if dups and not self.dups_allowed:
            problems.append(f"{dups} duplicate runs")
        if self.raised and not self.errors_allowed:
            problems.append(f"{self.raised} publish errors against a healthy Redis")
        notes = []
        if self.errors:
            notes.append(f"publisher raised: {counts(self.errors)}")
            notes.extend(f"first {name}: {text[:160]}" for name, text in self.first_errors.items())
        if dead:
            notes.append(f"dead letters: {counts(Counter(dead.values()))}")
        if pending and not lost:
            notes.append(f"unread or unacknowledged at the end: {pending}")
        last = max(at, default=None)
        end = self.fault_end
        return Row(
            fault=fault,
            title=title,
            sent=len(self.sent),
            accepted=len(self.accepted),
            raised=self.raised,
            delivered=len(runs),
            lost=len(lost),
            duplicated=dups,
            dead=len(dead),
            recover=None if last is None or end is None or last < end else last - end,
            problems=problems + self.problems,
            notes=notes + self.notes,
        )

    def close(self) -> None:
        """Stop workers (SIGTERM, then SIGKILL), proxies and servers (by pid), close buses."""
        self._supervising.set()
        if self._supervisor is not None:
            self._supervisor.join(5)
        for slot in self.slots:
            slot.retired = True
            if slot.proc is not None and slot.proc.poll() is None:
                slot.proc.kill()
                slot.proc.wait()
        for bus in self.buses:
            llmgine_redis.disable(bus)
        for proxy in self.proxies:
            proxy.close()
        for server in self.servers:
            server.kill()


class Call:
    """A remote command dispatched in a thread with its own event loop.

    ``outcome`` is ``None`` while it runs, then ``"ok"``, the name of the exception
    it raised, or ``"hung"`` when ``guard`` seconds passed without an answer.
    """

    def __init__(
        self, scene: Scene, bus: MessageBus, key: str, command: Probe, guard: float
    ) -> None:
        self.scene, self.key, self.error = scene, key, ""
        self.outcome: str | None = None
        self.took = 0.0
        self.thread = threading.Thread(target=self._run, args=(bus, command, guard), daemon=True)
        self.thread.start()

    def _run(self, bus: MessageBus, command: Probe, guard: float) -> None:
        begun = time.monotonic()
        try:
            asyncio.run(asyncio.wait_for(bus.dispatch_async(command), guard))
        except TimeoutError as exc:
            hung = not isinstance(exc, llmgine_redis.RemoteCommandTimeout)
            self._end("hung" if hung else type(exc).__name__, exc)
        except Exception as exc:
            self._end(type(exc).__name__, exc)
        else:
            self.scene.accepted.add(self.key)
            self.outcome = "ok"
        self.took = time.monotonic() - begun

    def _end(self, outcome: str, exc: BaseException) -> None:
        self.error = str(exc)
        if outcome != "hung":
            self.scene.failed(exc)
        self.outcome = outcome

    def join(self, timeout: float) -> str:
        """Wait up to ``timeout`` s; return the outcome (``"running"`` if there is none yet)."""
        self.thread.join(timeout)
        return self.outcome or "running"


@dataclasses.dataclass(frozen=True)
class Case:
    """One fault of the matrix: ``run(scene)`` breaks Redis and counts; timeouts in seconds."""

    number: int
    title: str
    run: Callable[[Scene], None]
    timeout: float
    quick_timeout: float


#: the cases by fault number, filled by the @case decorators of the case modules
CASES: dict[int, Case] = {}


def case(
    number: int, title: str, timeout: float, quick_timeout: float
) -> Callable[[Callable[[Scene], None]], Callable[[Scene], None]]:
    """Register the decorated function as the case of fault ``number``."""

    def register(run: Callable[[Scene], None]) -> Callable[[Scene], None]:
        CASES[number] = Case(number, title, run, timeout, quick_timeout)
        return run

    return register
