"""The plugin's hooks: select the transport at startup, report status, add ``llmgine worker``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from typing import Any

import llmgine
from llmgine.messages.bus import MessageBus, message_bus
from llmgine.plugins.status import PluginStatus

from ._config import TRANSPORT_ENV, URL_ENV, RedisConfig, safe_url
from ._transport import active, disable, enable

__all__ = ["plugin_status", "register_cli", "selected", "shutdown", "startup"]

ACTIVATE = (
    f"set {TRANSPORT_ENV}=redis (and {URL_ENV}, default redis://127.0.0.1:6379/0), "
    "or call llmgine_redis.enable(bus)"
)


def selected() -> bool:
    """Whether ``LLMGINE_TRANSPORT=redis`` selects this transport."""
    return os.environ.get(TRANSPORT_ENV, "").strip().lower() == "redis"


@llmgine.hookimpl
def startup(bus: MessageBus) -> None:
    """Enable the transport on ``bus`` when selected by the environment."""
    if selected():
        enable(bus)


@llmgine.hookimpl
def shutdown(bus: MessageBus) -> None:
    """Detach from ``bus`` when it closes."""
    disable(bus)


@llmgine.hookimpl
def plugin_status() -> PluginStatus:
    """Idle unless selected: installing the plugin changes nothing."""
    if selected() or active():
        url = safe_url(RedisConfig().url)
        return PluginStatus(True, f"events and remote commands go through Redis at {url}")
    return PluginStatus(False, "installed, not selected: the bus stays in-process", ACTIVATE)


@llmgine.hookimpl
def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``llmgine worker --group NAME``."""
    parser = subparsers.add_parser(
        "worker",
        help="consume events and serve remote commands over Redis until SIGTERM",
        description="Run the installed plugins' subscribers for events from Redis as consumer "
        "group NAME, and serve the remote command types they handle. SIGTERM or Ctrl-C "
        "stops reading, finishes and acknowledges in-flight work.",
    )
    parser.add_argument("--group", required=True, help="consumer group: one per service")
    parser.add_argument("--url", help=f"Redis URL (default ${URL_ENV} or redis://127.0.0.1:6379/0)")
    parser.add_argument("--stream", help="event stream (default llmgine:events)")
    parser.add_argument(
        "--from-start", action="store_true", help="a new group also reads retained entries"
    )
    parser.set_defaults(func=_cmd_worker)


def _cmd_worker(args: argparse.Namespace) -> int:
    from llmgine.plugins import register_handlers

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings: dict[str, Any] = {}
    if args.url:
        settings["url"] = args.url
    if args.stream:
        settings["stream"] = args.stream
    # Enabled before the plugins register, so the startup hook finds it enabled
    # and no forwarder is ever installed: a worker handles, never forwards.
    transport = enable(message_bus, worker=True, **settings)
    register_handlers(message_bus)
    asyncio.run(transport.run_worker(args.group, "0" if args.from_start else "$"))
    return 0
