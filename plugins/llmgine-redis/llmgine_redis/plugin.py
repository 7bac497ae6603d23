"""The hooks of entry point ``redis``: start the transport, report status, ``llmgine worker``,
describe its streams for ``llmgine schema``."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import llmgine
from llmgine.messages.bus import MessageBus, message_bus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event
from llmgine.plugins import ChannelInfo, TransportInfo, get_message_catalog
from llmgine.plugins.status import PluginStatus

from . import _cli
from ._commands import remote_types
from ._config import TRANSPORT_ENV, URL_ENV, RedisConfig
from ._outbox import compile_patterns
from ._settings import RedisSettings
from ._transport import disable, installed_settings, remote_command, start, transport_of
from ._urls import safe_url

__all__ = [
    "describe_channels",
    "plugin_status",
    "register_cli",
    "selected",
    "shutdown",
    "startup",
]

logger = logging.getLogger("llmgine.redis")

ACTIVATE = (
    f"set {TRANSPORT_ENV}=redis (and {URL_ENV}, default redis://127.0.0.1:6379/0), "
    "or call llmgine_redis.install(bus, url=...)"
)


def selected() -> bool:
    """Whether ``LLMGINE_TRANSPORT=redis`` selects this transport."""
    return os.environ.get(TRANSPORT_ENV, "").strip().lower() == "redis"


@llmgine.hookimpl
def startup(bus: MessageBus) -> None:
    """Start the transport on ``bus`` if :func:`~llmgine_redis.install` or the environment asks."""
    if transport_of(bus) is None and (installed_settings(bus) is not None or selected()):
        start(bus)


@llmgine.hookimpl
def shutdown(bus: MessageBus) -> None:
    """Detach from ``bus`` when it closes."""
    disable(bus)


@llmgine.hookimpl
def plugin_status() -> PluginStatus:
    """Idle unless selected (for the process-wide bus): installing the plugin changes nothing."""
    transport = transport_of(message_bus)
    if transport is not None or selected():
        config = transport.config if transport is not None else RedisSettings.from_env().config
        url = safe_url(config.url)
        return PluginStatus(True, f"events and remote commands go through Redis at {url}")
    return PluginStatus(False, "installed, not selected: the bus stays in-process", ACTIVATE)


@llmgine.hookimpl
def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``llmgine worker --group NAME`` (see :mod:`llmgine_redis._cli`)."""
    _cli.add_worker_command(subparsers)


@llmgine.hookimpl
def describe_channels(messages: Mapping[str, type], bus: MessageBus) -> TransportInfo | None:
    """The event stream and one stream per remote command type, if the transport is on
    for ``bus`` (running, installed, or selected by the environment); else ``None``.

    With patterns, the event stream lists the classes whose type matches one, and those
    whose type is decided per instance (``SystemEvent``) when a pattern can match one of
    their types: one that overlaps their ``event_type_pattern`` (unknown: any type).
    """
    transport = transport_of(bus)
    if transport is not None:
        settings, remote = transport.settings, transport.remote_types()
    else:
        found = installed_settings(bus)
        if found is None and not selected():
            return None
        settings = found or RedisSettings.from_env()
        own = [remote_command(item, settings.origin) for item in settings.remote]
        remote = list(dict.fromkeys([*remote_types(), *own]))
    config = settings.config
    match = compile_patterns(config.patterns) if config.patterns is not None else None
    events, maybe = [], []
    for wire, cls in messages.items():
        if not issubclass(cls, Event):
            continue
        kind = getattr(cls, "event_type", None)  # (not a str: decided per instance)
        if match is None or (isinstance(kind, str) and match.match(kind)):
            events.append(wire)
        elif not isinstance(kind, str) and config.patterns is not None:
            shape = getattr(cls, "event_type_pattern", None)
            if _overlap(config.patterns, shape if isinstance(shape, str) else "**"):
                events.append(wire)
                maybe.append(wire)
    which = "every event class with a wire name"
    if config.patterns is not None:
        which = f"the event classes whose type matches {', '.join(config.patterns)}"
        if maybe:
            which += f" (those of {', '.join(maybe)}, decided per instance, may match)"
    channels = [
        ChannelInfo(
            name="events",
            address=config.event_stream,
            messages=events,
            description=f"The event stream (Redis stream {config.event_stream}): {which}. "
            "Each consumer group gets every event; dead letters go to "
            f"{config.event_stream}:dead.",
        )
    ]
    catalog = get_message_catalog()
    for cls in remote:
        name = catalog.name_of(cls)
        if name is None or not issubclass(cls, Command):  # (remote() requires both)
            continue
        stream = config.command_stream(name)
        channels.append(
            ChannelInfo(
                name="commands." + re.sub(r"[^A-Za-z0-9_.\-]", "_", name),  # (a key)
                address=stream,
                messages=[name],
                description=f"The remote command {name}, run by one worker of group "
                f"{config.command_group}; the worker pushes the outcome to "
                f"{config.reply_key('{command_id}')}.",
            )
        )
    host, pathname = _server(config)
    return TransportInfo(
        name="redis",
        protocol="redis",
        host=host,
        pathname=pathname,
        description="llmgine-redis: Redis Streams (wire format 1, see its README)",
        channels=channels,
    )


def _overlap(patterns: Sequence[str], shape: str) -> bool:
    """Whether a type name can match both one of ``patterns`` and ``shape`` (patterns:
    ``*`` one segment, ``**`` one or more)."""
    return any(_segments_overlap(_segments(p), _segments(shape)) for p in patterns)


def _segments(pattern: str) -> tuple[str, ...]:
    # "**" is one segment ("*") then any number more ("") : one token kind per meaning
    out: list[str] = []
    for segment in pattern.split("."):
        out += ["*", ""] if segment == "**" else [segment]
    return tuple(out)


@functools.cache
def _segments_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    if not a or not b:
        return all(s == "" for s in a + b)
    if a[0] == "":  # any number of segments: none, or one more of b's
        return _segments_overlap(a[1:], b) or (b[0] != "" and _segments_overlap(a, b[1:]))
    if b[0] == "":
        return _segments_overlap(b, a)
    if a[0] != b[0] and "*" not in (a[0], b[0]):
        return False
    return _segments_overlap(a[1:], b[1:])


def _server(config: RedisConfig) -> tuple[str, str | None]:
    """The host (``host:port``) and path (``/db``, or a socket's path) of the Redis URL,
    without its credentials."""
    parts = urlsplit(config.url)
    if parts.scheme == "unix":
        return "localhost", parts.path or None
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}", parts.path or "/0"
