"""Switching the transport on for a bus: enable(), disable() and RedisTransport."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import weakref
from typing import Any, cast

from llmgine.messages.bus import MessageBus, message_bus

from ._commands import CommandServer, _listeners, forwarder, remote, remote_types
from ._config import RedisConfig
from ._consumer import EventConsumer
from ._outbox import RedisOutbox
from ._wire import registered, spec_of

__all__ = ["REMOTE_ENV", "RedisTransport", "disable", "enable", "transport_of"]

logger = logging.getLogger("llmgine.redis")

#: comma-separated wire names of command types to mark remote
REMOTE_ENV = "LLMGINE_REDIS_REMOTE"
_SOURCE = "llmgine-redis (forwards to a worker)"
_transports: weakref.WeakKeyDictionary[MessageBus, RedisTransport] = weakref.WeakKeyDictionary()


class RedisTransport:
    """The transport of one bus: its outbox, forwarders, consumers and command server."""

    def __init__(self, bus: MessageBus, config: RedisConfig, worker: bool) -> None:
        self.bus = bus
        self.config = config
        self.worker = worker
        self.outbox = RedisOutbox(config)
        self._forwarded: list[type] = []
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        role = "worker" if self.worker else "client"
        return f"<RedisTransport {role} stream={self.config.event_stream!r}>"

    def _blocking_client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:  # asyncio connections are per loop
            self._client, self._loop = self.config.async_client(blocking=True), loop
        return self._client

    def _on_remote(self, command_type: type) -> None:
        """Forward ``command_type`` unless this process handles it (a worker never forwards)."""
        if self.worker or command_type in self.bus.command_handlers():
            return
        spec = spec_of(command_type)
        assert spec is not None  # remote() checked it
        # One forwarder serves every remote type, so its result type is not the command's R.
        self.bus.register_command(
            cast(Any, command_type),
            forwarder(self.config, spec, self._blocking_client),
            source=_SOURCE,
        )
        self._forwarded.append(command_type)

    def consumer(self, group: str, consumer: str | None = None) -> EventConsumer:
        """An :class:`EventConsumer` of ``group`` delivering to this bus (``await c.run()``)."""
        return EventConsumer(self.bus, self.config, group, consumer)

    def command_server(self, consumer: str | None = None) -> CommandServer | None:
        """A server for the remote types this bus has real handlers for (None if none)."""
        handlers = self.bus.command_handlers()
        specs = [
            spec
            for cls in remote_types()
            if cls in handlers and handlers[cls][1] != _SOURCE and (spec := spec_of(cls))
        ]
        return CommandServer(self.bus, self.config, specs, consumer) if specs else None

    async def run_worker(self, group: str, start_id: str = "$", signals: bool = True) -> None:
        """Consume events as ``group`` and serve remote commands until SIGTERM/SIGINT.

        On a signal, reading stops, in-flight work finishes and is acknowledged.
        """
        readers: list[Any] = [self.consumer(group)]
        server = self.command_server()
        if server is not None:
            readers.append(server)
        loop = asyncio.get_running_loop()
        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, lambda: [r.stop() for r in readers])
        logger.info("worker %s: %s", group, ", ".join(map(repr, readers)))
        try:
            await asyncio.gather(*(r.run(start_id) for r in readers))
        finally:
            if signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)

    def close(self) -> None:
        """Detach from the bus, remove the forwarders and close connections."""
        if self.bus.outbox is self.outbox:
            self.bus.detach_outbox()
        for command_type in self._forwarded:
            if self.bus.command_handlers().get(command_type, ("", None))[1] == _SOURCE:
                self.bus.unregister_command(command_type)
        self._forwarded.clear()
        self.outbox.close()
        if self._on_remote in _listeners:
            _listeners.remove(self._on_remote)
        _transports.pop(self.bus, None)

    async def aclose(self) -> None:
        """Like :meth:`close`, also closing the asyncio connections of this event loop."""
        self.close()
        await self.outbox.aclose()
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = self._loop = None


def enable(
    bus: MessageBus | None = None, *, worker: bool = False, **settings: Any
) -> RedisTransport:
    """Send this bus's events to Redis and forward its remote commands; return the transport.

    ``settings`` are :class:`RedisConfig` fields (``url=``, ``stream=``, ``patterns=``,
    ...). ``worker=True`` never forwards commands (the process runs handlers).
    Enabling a bus twice returns the first transport. Call it after the handlers are
    registered: a remote type with no local handler then gets a forwarder.
    """
    bus = message_bus if bus is None else bus
    existing = _transports.get(bus)
    if existing is not None:
        return existing
    transport = RedisTransport(bus, RedisConfig(**settings), worker)
    bus.attach_outbox(transport.outbox)
    _transports[bus] = transport
    by_name = registered()
    for name in filter(None, (n.strip() for n in os.environ.get(REMOTE_ENV, "").split(","))):
        if name not in by_name:
            raise ValueError(f"{REMOTE_ENV} names {name!r}, which has no registered type")
        remote(by_name[name])
    for command_type in remote_types():
        transport._on_remote(command_type)
    _listeners.append(transport._on_remote)
    return transport


def disable(bus: MessageBus | None = None) -> None:
    """Undo :func:`enable` for ``bus`` (no-op if it is not enabled)."""
    transport = _transports.get(message_bus if bus is None else bus)
    if transport is not None:
        transport.close()


def transport_of(bus: MessageBus | None = None) -> RedisTransport | None:
    """The transport enabled on ``bus`` (default: the process-wide bus), if any."""
    return _transports.get(message_bus if bus is None else bus)


def active() -> bool:
    """Whether any bus in this process has the transport enabled."""
    return len(_transports) > 0
