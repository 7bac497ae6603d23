"""Remote commands: a forwarding handler on the caller's side, a command server on the worker's.

A command type marked with :func:`remote` travels on its own stream,
``{prefix}:commands:{wire name}``, read by the group ``command_group``, so one
worker runs each command. The caller blocks (``BLPOP``, up to ``command_timeout``)
on ``{prefix}:reply:{command_id}``, where the worker pushes
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_type", "message",
"traceback"}``. Results must be JSON values.

The worker stores the reply and acknowledges the command in one MULTI/EXEC, and
while Redis refuses that (out of memory, unreachable) it retries with backoff
rather than acknowledge a command whose reply is lost; stopped meanwhile, it
leaves the command pending. Delivery is at least once: if a worker dies (or stops
so) after running a command but before acknowledging it, another worker reclaims
it and runs it again, so handlers with side effects should dedupe by
``command.command_id``. A caller that gets :class:`RemoteCommandTimeout` or
:class:`TransportOutcomeUnknown` cannot know whether the command ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import traceback
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

import redis
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command

from ._config import RedisConfig, text
from ._outage import outage
from ._outbox import attach_trace, trace_context
from ._packed import xadd_batch
from ._reader import GroupReader
from ._wire import Spec, decode, encode, json_default, spec_of
from ._writes import dumps
from .errors import RemoteCommandError, RemoteCommandTimeout, WireError

__all__ = ["REMOTE_TYPES", "CommandServer", "RemoteTypes", "forwarder", "remote", "remote_types"]

logger = logging.getLogger("llmgine.redis")


class RemoteTypes:
    """The command types marked with :func:`remote`: a declaration about each class.

    Like the message catalogue, it holds what is true of a class in every process
    that loads it, not a setting of any bus. The transports of live buses watch it
    (through weak references, so a watcher never keeps its bus alive) to forward a
    type marked after they started.
    """

    def __init__(self) -> None:
        self._types: dict[type, None] = {}
        self._watchers: list[weakref.WeakMethod[Callable[[type], None]]] = []

    def mark(self, command_type: type) -> None:
        """Mark ``command_type`` remote and tell the watchers (once)."""
        if command_type in self._types:
            return
        self._types[command_type] = None
        self._watchers = [w for w in self._watchers if w() is not None]
        for watcher in list(self._watchers):
            callback = watcher()
            if callback is not None:
                callback(command_type)

    def types(self) -> list[type]:
        """Every command type marked remote, in marking order."""
        return list(self._types)

    def watch(self, callback: Callable[[type], None]) -> Callable[[], None]:
        """Call bound method ``callback`` for each type marked from now on; return the undo."""
        ref = weakref.WeakMethod(callback)
        self._watchers.append(ref)
        return lambda: self._watchers.remove(ref) if ref in self._watchers else None


#: the one declaration of remote types (see :class:`RemoteTypes`)
REMOTE_TYPES = RemoteTypes()


def remote(command_type: type[Command[Any]]) -> type[Command[Any]]:
    """Mark ``command_type`` as handled by workers; usable as a class decorator.

    In a process with the transport on a bus and no local handler for the type,
    ``dispatch_async`` forwards it to a worker; a worker (``llmgine worker``)
    serves the remote types it has handlers for. The type must have a wire name
    (a plugin names it in its ``register_messages`` hook).
    """
    if spec_of(command_type) is None:
        raise TypeError(
            f"{getattr(command_type, '__qualname__', command_type)!r} has no wire name; a "
            "plugin names it in its register_messages(register) hook (register(cls)) before "
            "remote(cls)"
        )
    REMOTE_TYPES.mark(command_type)
    return command_type


def remote_types() -> list[type]:
    """Every command type marked remote, in marking order."""
    return REMOTE_TYPES.types()


def forwarder(
    config: RedisConfig, spec: Spec, client: Callable[[], Any]
) -> Callable[[Command[Any]], Coroutine[Any, Any, Any]]:
    """The handler a caller's bus runs for remote type ``spec``: send, then await the reply.

    The call ends within ``command_timeout`` + ``socket_timeout`` seconds, also on a
    connection that died without a word. Raises :class:`TransportError` if nothing was sent,
    :class:`TransportOutcomeUnknown` if the command may have been queued (an error
    after sending began, or while waiting for the reply), :class:`RemoteCommandTimeout`
    if no reply came in time, :class:`WireError` for a command no worker could read
    (over ``max_entry_bytes``, a NaN or infinite float).
    """
    stream = config.command_stream(spec.name)

    async def forward_to_worker(command: Command[Any]) -> Any:
        reply_key = config.reply_key(command.command_id)
        entry = encode(
            command, spec, trace_context(), reply_to=reply_key, max_bytes=config.max_entry_bytes
        )
        what = f"command {spec.name} (id {command.command_id})"
        conn = client()
        # One deadline for the whole call: on a dead connection each step would otherwise
        # wait out its socket timeout, and redis-py retry it.
        deadline = asyncio.get_running_loop().time() + config.command_timeout
        deadline += config.socket_timeout
        try:
            async with asyncio.timeout_at(deadline):
                await xadd_batch(stream, config.trim()).send_async(conn, [entry])
        except (redis.RedisError, TimeoutError) as exc:
            unknown = isinstance(exc, TimeoutError)  # cut short while sending
            raise outage(
                f"could not send {what}", config, stream, exc, unknown=unknown, command=command
            ) from exc
        try:
            async with asyncio.timeout_at(deadline):
                got = await conn.blpop([reply_key], timeout=config.command_timeout)
        except TimeoutError:  # Redis did not answer either: the connection may be dead
            got = None
        except redis.RedisError as exc:  # it was queued: it may run, or have run
            raise outage(
                f"sent {what}, then waiting for its reply",
                config,
                reply_key,
                exc,
                unknown=True,
                command=command,
            ) from exc
        if got is None:
            raise RemoteCommandTimeout(
                f"no worker answered {what} within {config.command_timeout}s on stream "
                f"{stream!r}; its outcome is unknown: it may have run, be running, or still "
                "run (it stays queued until a worker takes it). Is a worker running "
                "('llmgine worker --group NAME') with a handler for it? Raise command_timeout "
                "if it is slow; dispatching it again may run it twice (handlers dedupe by "
                "command_id)"
            )
        outcome = json.loads(got[1])
        if outcome.get("ok"):
            return outcome.get("result")
        raise RemoteCommandError(
            spec.name,
            str(outcome.get("error_type")),
            str(outcome.get("message")),
            str(outcome.get("traceback")),
        )

    return forward_to_worker


class CommandServer(GroupReader):
    """Runs the remote commands this process has handlers for, one worker per command."""

    role = "command server"

    def __init__(
        self, bus: MessageBus, config: RedisConfig, specs: list[Spec], consumer: str | None = None
    ) -> None:
        streams = [config.command_stream(spec.name) for spec in specs]
        super().__init__(config, config.command_group, streams, consumer)
        self.bus = bus
        self.served = 0
        self._reply_prefix = config.reply_key("")
        #: set when draining: replies Redis keeps refusing are then given up
        self._closing = asyncio.Event()

    async def ensure_groups(self, start_id: str = "0") -> None:
        """Create the command group on each stream at ``"0"``, whatever ``start_id`` says.

        A command sent before any worker created the group is waiting to run, not
        history: its caller was told it stays queued until a worker takes it.
        """
        await super().ensure_groups("0")

    async def handle(self, stream: str, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Decode each command and run it in a task (at most ``command_concurrency`` at once)."""
        for entry_id, fields in entries:
            if not fields:
                self.ack(stream, entry_id)
                continue
            try:
                command, doc = decode(fields.get(b"m"), "command", self.config.max_entry_bytes)
                reply_to = doc.get("reply_to")
                # Only our reply keys: a payload must not choose where we write.
                if not (isinstance(reply_to, str) and reply_to.startswith(self._reply_prefix)):
                    raise WireError(
                        "invalid-fields", f"reply_to {reply_to!r:.100} is not a reply key"
                    )
            except WireError as exc:
                self.dead_letter(stream, entry_id, fields, exc.reason, str(exc))
                # Written before the caller hears of it: a worker stopped right after the
                # reply must not leave the dead letter's outcome unknown (and write it twice).
                await self.flush()
                await self._refuse(fields, exc)
                continue
            while len(self._tasks) >= self.config.command_concurrency:
                await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)
            run = self._run(stream, entry_id, command, reply_to, doc.get("trace"))
            self.spawn((stream, entry_id), run)

    async def _refuse(self, fields: dict[bytes, bytes], error: WireError) -> None:
        """Tell the caller of an undecodable command why, so it need not wait for a timeout.

        Best effort: the dead letter is written already; if Redis refuses the reply,
        the caller times out instead.
        """
        raw = fields.get(b"m")
        if not isinstance(raw, bytes) or len(raw) > self.config.max_entry_bytes:
            return
        try:
            reply_to = json.loads(raw).get("reply_to")
        except (ValueError, AttributeError, RecursionError):
            return
        if isinstance(reply_to, str) and reply_to.startswith(self._reply_prefix):
            outcome = {"ok": False, "error_type": "WireError", "message": str(error)}
            pipe = self._connect().pipeline(transaction=True)
            pipe.rpush(reply_to, dumps({**outcome, "traceback": ""}))
            pipe.expire(reply_to, self.config.reply_ttl)
            try:
                await pipe.execute()
            except redis.RedisError as exc:
                logger.warning(
                    "%s: could not tell the caller (%s) that its command was dead-lettered "
                    "(%s: %s); it will time out instead",
                    self.label,
                    reply_to,
                    type(exc).__name__,
                    exc,
                )

    async def _run(
        self, stream: str, entry_id: bytes, command: Command[Any], reply_to: str, trace: Any
    ) -> None:
        # The handler runs in the trace context the caller dispatched in (OpenTelemetry).
        undo = attach_trace(trace)
        try:
            result = await self.bus.dispatch_async(command)
            reply = json.dumps({"ok": True, "result": result}, default=json_default)
        except Exception as exc:
            reply = dumps(
                {
                    "ok": False,
                    "error_type": type(exc).__qualname__,
                    "message": str(exc),
                    "traceback": "".join(traceback.format_exception(exc)),
                }
            )
        finally:
            if undo is not None:
                undo()
        if await self._answer(stream, entry_id, command, reply_to, reply):
            self.served += 1

    async def _answer(
        self, stream: str, entry_id: bytes, command: Command[Any], reply_to: str, reply: str
    ) -> bool:
        """Store the reply and acknowledge the command together (MULTI/EXEC); True if done.

        Never one without the other: acknowledged without its reply, a command that ran
        would look lost to its caller. While Redis refuses (out of memory, say) or is
        unreachable, the reply is kept and retried with backoff. If this server drains
        (stops) meanwhile, it gives up: the entry stays pending, and another worker
        reclaims it after ``claim_idle_ms`` and runs the command again (at least once).
        """
        name = type(command).__qualname__
        what = f"command {name} (id {command.command_id}, entry {text(entry_id)})"
        delay = 0.05
        while True:
            pipe = self._connect().pipeline(transaction=True)
            pipe.rpush(reply_to, reply)
            pipe.expire(reply_to, self.config.reply_ttl)
            pipe.xack(stream, self.group, entry_id)
            try:
                await pipe.execute()
                return True
            except redis.RedisError as exc:
                error = f"{type(exc).__name__}: {exc}"
            if self._closing.is_set():
                logger.error(
                    "%s: stopping without the reply of %s, which ran (%s); it stays pending "
                    "on %s, and another worker will reclaim it after claim_idle_ms and run it "
                    "again",
                    self.label,
                    what,
                    error,
                    stream,
                )
                return False
            logger.warning(
                "%s: Redis did not store the reply of %s (%s); retrying in %.2fs, not "
                "acknowledging it meanwhile",
                self.label,
                what,
                error,
                delay,
            )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)
            delay = min(delay * 2, 2.0)

    async def drain(self) -> None:
        """Wait for commands in flight, write what is pending, close the connection.

        A reply that Redis still refuses is then tried once more, and given up: its
        command stays pending, to be reclaimed (see :meth:`_answer`).
        """
        self._closing.set()
        await super().drain()
