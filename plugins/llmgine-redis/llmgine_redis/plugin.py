"""The hooks of entry point ``redis``: start the transport, report status, ``llmgine worker``."""

from __future__ import annotations

import argparse
import logging
import os

import llmgine
from llmgine.messages.bus import MessageBus, message_bus
from llmgine.plugins.status import PluginStatus

from . import _cli
from ._config import TRANSPORT_ENV, URL_ENV
from ._settings import RedisSettings
from ._transport import disable, installed_settings, start, transport_of
from ._urls import safe_url

__all__ = ["plugin_status", "register_cli", "selected", "shutdown", "startup"]

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
