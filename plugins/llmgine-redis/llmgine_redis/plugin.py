"""The hooks of entry point ``redis``: start the transport, report status, ``llmgine worker``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import Any

import llmgine
import redis
from llmgine.messages.bus import MessageBus, message_bus
from llmgine.plugins.status import PluginStatus

from ._config import TRANSPORT_ENV, URL_ENV, RedisConfig
from ._settings import RedisSettings, env_settings
from ._transport import disable, install, installed_settings, start, transport_of
from ._urls import safe_url

__all__ = [
    "plugin_status",
    "register_cli",
    "selected",
    "shutdown",
    "startup",
    "unreachable",
]

logger = logging.getLogger("llmgine.redis")

#: where a worker's URL comes from, for messages
URL_FLAGS = f"--url or {URL_ENV}"

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
    try:
        # The LLMGINE_REDIS_* settings, and the command line's over them.
        settings: dict[str, Any] = env_settings()
        if args.url:
            settings["url"] = args.url
        if args.stream:
            settings["stream"] = args.stream
        # Installed as a worker before the other plugins register: a worker handles,
        # never forwards, so no forwarder can take the place of a plugin's handler.
        transport = install(message_bus, **{**settings, "worker": True})
    except (TypeError, ValueError) as exc:  # the settings' errors name the setting
        return _fail(str(exc))
    problem = unreachable(transport.config)
    if problem is not None:
        disable(message_bus)
        return _fail(problem)
    register_handlers(message_bus)
    asyncio.run(transport.run_worker(args.group, "0" if args.from_start else "$"))
    return 0


def _fail(message: str) -> int:
    """Print ``llmgine worker: message`` as one line on stderr; the exit status 1."""
    print(f"llmgine worker: {' '.join(message.split())}", file=sys.stderr)
    return 1


def unreachable(config: RedisConfig) -> str | None:
    """Why Redis at ``config.url`` fails a PING (URL masked, and what to check); None if not.

    Checked before a worker starts: once started, its readers ride out outages, which
    would hide a wrong URL or password behind endless retries.
    """
    where = f"Redis at {safe_url(config.url)}"
    try:
        client = config.sync_client()
        try:
            client.ping()
        finally:
            client.close()
    except redis.AuthenticationError as exc:
        check = "the user name and password in the URL"
        return f"{where} refused the login: {_error(exc)}; check {check} ({URL_FLAGS})"
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        check = "that Redis is running there and reachable from this host, and the URL"
        return f"cannot connect to {where}: {_error(exc)}; check {check} ({URL_FLAGS})"
    except (redis.RedisError, TypeError, ValueError) as exc:  # e.g. an unknown ?option=
        return f"{where} does not answer PING: {_error(exc)}; check the URL ({URL_FLAGS})"
    return None


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(". ")
