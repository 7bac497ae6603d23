"""A worker's run: its readers, what it serves (the banner) and how it ended (the stop line).

:meth:`RedisTransport.run_worker` logs the one-line :meth:`WorkerRun.summary`;
``llmgine worker`` prints :meth:`WorkerRun.banner` instead.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._urls import safe_url

if TYPE_CHECKING:
    from ._commands import CommandServer
    from ._consumer import EventConsumer
    from ._transport import RedisTransport

__all__ = ["WorkerRun", "duration"]

#: what a stop does, said when it starts (draining may take a while)
STOPPING = (
    "stops reading, finishes and acknowledges the work in flight (a second signal exits at once)"
)
#: what a second signal does
ABANDONING = "exiting now; the work in flight that was not acknowledged is delivered again"


class WorkerRun:
    """Consume events as ``group`` and serve remote commands on ``transport``'s bus.

    One consumer name (this process's) for the event consumer and the command server.
    ``start_id`` ``"$"``: a new group reads from new entries; ``"0"``: from the oldest.
    """

    def __init__(self, transport: RedisTransport, group: str, start_id: str = "$") -> None:
        self.transport = transport
        self.group = group
        self.start_id = start_id
        self.consumer: EventConsumer = transport.consumer(group)
        self.server: CommandServer | None = transport.command_server(self.consumer.consumer)
        #: the signal (or ``stop()``) that stopped the run, once one did
        self.stopped_by: str | None = None
        self._started: float | None = None
        self._ended: float | None = None

    @property
    def readers(self) -> list[Any]:
        """The event consumer, and the command server if this process serves commands."""
        return [self.consumer] if self.server is None else [self.consumer, self.server]

    def stop(self, why: str = "stop()") -> None:
        """Stop reading; :meth:`run` finishes and acknowledges the work in flight, then returns."""
        if self.stopped_by is None:
            self.stopped_by = why
        for reader in self.readers:
            reader.stop()

    async def run(
        self,
        signals: bool = True,
        report: Callable[[str], object] | None = None,
        started: Callable[[], object] | None = None,
    ) -> None:
        """Run until SIGTERM or SIGINT (with ``signals``) or :meth:`stop`.

        ``started`` is called once the signal handlers are in place (so a signal sent
        after it stops the run gracefully); ``report`` receives :meth:`stopping_line`
        when a signal arrives. Once the readers stopped, the run waits for the bus's
        background subscribers to empty their queues (``drain_async``). A second signal
        ends the process at once (exit status 128 + the signal's number), without the
        work in flight: what was not acknowledged is delivered again later. If the run
        itself is cancelled, the readers stop and finish their work in flight before the
        cancellation propagates.
        """
        loop = asyncio.get_running_loop()

        def on_signal(sig: signal.Signals) -> None:
            if self.stopped_by is not None and self.stopped_by.startswith("SIG"):
                if report is not None:
                    report(f"worker {self.group}: second {sig.name}: {ABANDONING}")
                os._exit(128 + sig.value)  # (what the user asked for: no clean-up)
            first = self.stopped_by is None
            self.stop(sig.name)
            if first and report is not None:
                report(self.stopping_line())

        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, on_signal, sig)
        self._started = time.monotonic()
        try:
            if started is not None:
                started()
            tasks = [asyncio.ensure_future(reader.run(self.start_id)) for reader in self.readers]
            try:
                # Not gather(): cancelling a gather waits for its children to end, and a
                # reader inside redis-py may not end on a cancellation, only on stop().
                await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            except asyncio.CancelledError:
                self.stop("cancellation")
                raise
            finally:
                for reader in self.readers:  # one failed or we were cancelled: all stop
                    reader.stop()
                await asyncio.wait(tasks)
            for task in tasks:
                task.result()  # (the first failure, in reader order)
            # At-most-once background subscribers' events were acknowledged when queued.
            await self.transport.bus.drain_async()
        finally:
            self._ended = time.monotonic()
            if signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)

    # What it says --------------------------------------------------------------------

    def subscriptions(self) -> list[str]:
        """``pattern -> subscriber`` for each subscription of the bus, in order."""
        return [
            f"{key if isinstance(key, str) else key.__qualname__} -> {sub.subscriber.name}"
            for sub in self.transport.bus.subscriptions
            for key in [sub.key]
        ]

    def commands(self) -> list[tuple[str, str]]:
        """``(wire name, stream)`` of each remote command type this worker serves."""
        if self.server is None:
            return []
        prefix = self.transport.config.command_stream("")
        return [(stream.removeprefix(prefix), stream) for stream in self.server.streams]

    def banner(self) -> list[str]:
        """What this worker does, one item a line (indented, under :meth:`start_line`).

        Redis, the event stream, group and consumer, the subscriptions it runs, the
        remote commands it serves and how to stop it.
        """
        config = self.transport.config
        start = "the oldest entry" if self.start_id == "0" else "new entries"
        rows: list[tuple[str, str]] = [
            ("Redis", safe_url(config.url)),
            ("event stream", config.event_stream),
            ("group", f"{self.group} (a new group reads from {start})"),
            ("consumer", self.consumer.consumer),
        ]
        subscriptions = self.subscriptions() or [
            "none: no installed plugin subscribes to events (each is read and acknowledged)"
        ]
        rows += [("subscriptions" if i == 0 else "", s) for i, s in enumerate(subscriptions)]
        commands = [f"{name} on stream {stream}" for name, stream in self.commands()]
        if commands:
            commands.insert(0, f"as group {config.command_group}:")
        else:
            commands = ["none: this process handles none of the remote command types"]
        rows += [("remote commands" if i == 0 else "", c) for i, c in enumerate(commands)]
        rows.append(("stop", f"SIGTERM or Ctrl-C {STOPPING}"))
        width = max(len(label) for label, _ in rows)
        return [f"  {label:<{width}}  {value}".rstrip() for label, value in rows]

    def start_line(self) -> str:
        """The line above the :meth:`banner`."""
        return f"worker {self.group}: started"

    def summary(self) -> str:
        """The banner in one line, for a log."""
        config = self.transport.config
        start = "from its oldest entry" if self.start_id == "0" else "from new entries"
        names = [name for name, _ in self.commands()]
        serving = (
            f"serving remote commands {', '.join(names)} as group {config.command_group!r}"
            if names
            else "serving no remote commands (this process handles none of the remote types)"
        )
        return (
            f"worker {self.group}: consuming events of stream {config.event_stream!r} as group "
            f"{self.group!r} (a new group reads {start}) on Redis at {safe_url(config.url)} "
            f"with {len(self.transport.bus.subscriptions)} subscription(s); {serving}; "
            "SIGTERM or Ctrl-C stops it"
        )

    def stopping_line(self) -> str:
        """Said when a signal arrives: what the worker does before it exits."""
        return f"worker {self.group}: {self.stopped_by}: {STOPPING}"

    def stop_line(self) -> str:
        """Said once the run ended: what stopped it, after how long, and what it handled."""
        how = f"by {self.stopped_by}" if self.stopped_by else "(its readers ended)"
        took = ""
        if self._started is not None:
            took = f" after {duration((self._ended or time.monotonic()) - self._started)}"
        consumer = self.consumer
        dead = sum(reader.dead_lettered for reader in self.readers)
        handled = (
            f"{_count(consumer.processed, 'event')} handled, "
            f"{_count(consumer.duplicates, 'duplicate')} skipped, {dead} dead-lettered"
        )
        if self.server is not None:
            handled += f", {_count(self.server.served, 'remote command')} answered"
        return f"worker {self.group} stopped {how}{took}: {handled}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def duration(seconds: float) -> str:
    """``seconds`` for people: ``0.4 s``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
