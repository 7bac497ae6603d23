"""The transport of one bus: install(), disable() and RedisTransport, kept on the bus."""

from __future__ import annotations

import logging
import warnings
from typing import Any, cast

from llmgine.messages.bus import MessageBus, message_bus
from llmgine.messages.commands import Command
from llmgine.plugins import BusState, get_message_catalog

from ._clients import LoopClients
from ._commands import REMOTE_TYPES, CommandServer, forwarder, remote_types
from ._consumer import EventConsumer
from ._outbox import RedisOutbox, received_ids
from ._settings import RedisSettings
from ._wire import spec_of
from ._worker import WorkerRun

__all__ = [
    "RedisTransport",
    "disable",
    "enable",
    "install",
    "installed_settings",
    "start",
    "transport_of",
]

logger = logging.getLogger("llmgine.redis")

_SOURCE = "llmgine-redis (forwards to a worker)"


class RedisTransport:
    """The transport of one bus: its outbox, forwarders, consumers and command server."""

    def __init__(self, bus: MessageBus, settings: RedisSettings) -> None:
        self.bus = bus
        self.settings = settings
        self.config = settings.config
        self.worker = settings.worker
        self.outbox = RedisOutbox(self.config, received_ids(bus))
        self._own_remote = [remote_command(item, settings.origin) for item in settings.remote]
        self._forwarded: list[type] = []
        #: the forwarders' clients, one per event loop; a BLPOP waits up to command_timeout
        self._clients = LoopClients(
            lambda: self.config.async_client(wait=self.config.command_timeout)
        )
        self._unwatch = REMOTE_TYPES.watch(self.on_remote)
        self._closed = False

    def __repr__(self) -> str:
        role = "worker" if self.worker else "client"
        return f"<RedisTransport {role} stream={self.config.event_stream!r}>"

    def remote_types(self) -> list[type]:
        """The command types that run on workers from this bus: marked remote, or set so."""
        return list(dict.fromkeys([*remote_types(), *self._own_remote]))

    def on_remote(self, command_type: type) -> None:
        """Forward ``command_type`` unless this process handles it (a worker never forwards)."""
        if self._closed or self.worker or command_type in self.bus.command_handlers():
            return
        spec = spec_of(command_type)
        assert spec is not None  # remote() and remote_command() checked it
        # One forwarder serves every remote type, so its result type is not the command's R.
        self.bus.register_command(
            cast(Any, command_type),
            forwarder(self.config, spec, self._clients.get),
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
            for cls in self.remote_types()
            if cls in handlers and handlers[cls][1] != _SOURCE and (spec := spec_of(cls))
        ]
        return CommandServer(self.bus, self.config, specs, consumer) if specs else None

    async def run_worker(self, group: str, start_id: str = "$", signals: bool = True) -> None:
        """Consume events as ``group`` and serve remote commands until SIGTERM/SIGINT.

        On a signal, reading stops, in-flight work finishes and is acknowledged. Logs
        what it serves when it starts, and what it handled when it stops (see
        :class:`~llmgine_redis._worker.WorkerRun`, which ``llmgine worker`` runs).
        """
        run = WorkerRun(self, group, start_id)
        logger.info("%s", run.summary())
        await run.run(signals, report=logger.info)
        logger.info("%s", run.stop_line())

    def close(self) -> None:
        """Detach from the bus, remove the forwarders and close connections (idempotent)."""
        self._closed = True
        if self.bus.outbox is self.outbox:
            self.bus.detach_outbox()
        for command_type in self._forwarded:
            if self.bus.command_handlers().get(command_type, ("", None))[1] == _SOURCE:
                self.bus.unregister_command(command_type)
        self._forwarded.clear()
        self.outbox.close()
        self._clients.forget_closed()
        self._unwatch()
        if _TRANSPORT.get(self.bus) is self:
            _TRANSPORT.pop(self.bus)

    async def aclose(self) -> None:
        """Like :meth:`close`, also closing the asyncio connections of this event loop."""
        self.close()
        await self.outbox.aclose()
        await self._clients.aclose()


def remote_command(item: type | str, origin: str) -> type:
    """The command class of a ``remote`` setting (a class, or a wire name); errors name it."""
    cls = get_message_catalog().class_of(item) if isinstance(item, str) else item
    if cls is None or not issubclass(cls, Command) or spec_of(cls) is None:
        raise ValueError(
            f"{origin}: setting remote names {item!r}, which is not a command class with a "
            "wire name (a plugin names it in its register_messages(register) hook)"
        )
    return cls


_TRANSPORT: BusState[RedisTransport] = BusState("llmgine-redis transport")
#: the settings given to install(), which the environment never overrides
_INSTALLED: BusState[RedisSettings] = BusState("llmgine-redis settings")


def install(bus: MessageBus, **settings: Any) -> RedisTransport:
    """Carry ``bus``'s events and remote commands over Redis; return its transport.

    ``settings`` are those of the ``LLMGINE_REDIS_*`` environment variables in lower
    case (``url=``, ``stream=``, ``patterns=``, ``remote=``, ``worker=``, ... see
    :mod:`llmgine_redis._settings`); errors name the setting. They are kept on ``bus``
    and the plugin is registered and started there (``llmgine.plugins.install_plugin``).
    Idempotent: installing again with the same settings returns the same transport, and
    ``register_handlers(bus)`` before or after neither registers the plugin twice nor
    replaces these settings with the environment's. Installing other settings on a bus
    that has them raises ``ValueError`` (``disable(bus)`` first).

    A remote type with no local handler gets a forwarder when the transport starts:
    register your handlers first, or install after ``register_handlers``.
    """
    from llmgine.plugins import install_plugin

    from . import plugin

    wanted = RedisSettings.of(settings)
    for item in wanted.remote:
        remote_command(item, wanted.origin)  # a name not known now is an error now
    given = _INSTALLED.get(bus)
    if given is not None and given != wanted and transport_of(bus) is not None:
        raise ValueError(
            f"llmgine_redis.install(): {bus!r} already has the Redis transport with other "
            f"settings ({given.config}); call llmgine_redis.disable(bus) first to change them"
        )
    _INSTALLED.set(bus, wanted)
    current = transport_of(bus)
    if current is not None and current.settings != wanted:  # started from the environment
        current.close()
    try:
        install_plugin(bus, "redis", plugin)
        return transport_of(bus) or start(bus)
    except BaseException:
        if given is None:  # as before the call: no settings of a failed install stay
            _INSTALLED.pop(bus)
        else:
            _INSTALLED.set(bus, given)
        raise


def installed_settings(bus: MessageBus = message_bus) -> RedisSettings | None:
    """The settings :func:`install` kept on ``bus``, if it was called there."""
    return _INSTALLED.get(bus)


def start(bus: MessageBus) -> RedisTransport:
    """Start the transport on ``bus`` with its installed settings, else the environment's.

    Returns the running one if there is one. A remote type with no local handler gets
    a forwarder (unless it is a worker).
    """
    existing = _TRANSPORT.get(bus)
    if existing is not None:
        return existing
    settings = _INSTALLED.get(bus) or RedisSettings.from_env()
    transport = RedisTransport(bus, settings)
    _TRANSPORT.set(bus, transport)
    try:
        bus.attach_outbox(transport.outbox)
        for command_type in transport.remote_types():
            transport.on_remote(command_type)
    except BaseException:
        transport.close()
        raise
    return transport


def enable(
    bus: MessageBus | None = None, *, worker: bool = False, **settings: Any
) -> RedisTransport:
    """Deprecated: :func:`install` (``llmgine_redis.install(bus, **settings)``)."""
    warnings.warn(
        "llmgine_redis.enable(bus, **settings) is deprecated and goes in 0.3; call "
        "llmgine_redis.install(bus, **settings) (the same settings, and worker=)",
        DeprecationWarning,
        stacklevel=2,
    )
    return install(message_bus if bus is None else bus, worker=worker, **settings)


def disable(bus: MessageBus = message_bus) -> None:
    """Stop the transport on ``bus`` (no-op if it has none); :func:`install` starts it again."""
    transport = _TRANSPORT.get(bus)
    if transport is not None:
        transport.close()


def transport_of(bus: MessageBus = message_bus) -> RedisTransport | None:
    """The transport running on ``bus`` (default: the process-wide bus), if any."""
    return _TRANSPORT.get(bus)
