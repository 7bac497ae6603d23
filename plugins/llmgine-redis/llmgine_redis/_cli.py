"""``llmgine worker``: its options, the checks before it starts, its banner and its stop line.

Every failure it expects (a bad setting or URL, Redis unreachable or refusing the
login, an ACL refusing what a worker needs) is a :class:`~llmgine_redis.WorkerStartError`
or another ``MessageBusException``, which :func:`worker_command` prints as the one line
``llmgine worker: <message>`` on stderr, exit status 1: the form ``llmgine`` itself
gives such errors, so the output is the same whichever catches it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

import redis
from llmgine.messages.bus import message_bus
from llmgine.messages.errors import MessageBusException

from ._config import DEFAULT_URL, TRANSPORT_ENV, URL_ENV, RedisConfig
from ._settings import ENV_PREFIX, RedisSettings, env_settings
from ._transport import disable, install
from ._urls import check_url, safe_url
from ._worker import STOPPING, WorkerRun
from .errors import WorkerStartError

__all__ = ["LOG_LEVELS", "add_worker_command", "check_reachable", "start_worker", "worker_command"]

#: the choices of ``--log-level``
LOG_LEVELS = ("debug", "info", "warning", "error")

#: where a worker's URL comes from, for messages
URL_FLAGS = f"--url or {URL_ENV}"

_DESCRIPTION = (
    "Run the event subscribers of the installed plugins on the events of a Redis stream, "
    "as one consumer of consumer group NAME (each event goes to one worker of each group), "
    "and serve the remote command types this process has handlers for. It prints what it "
    "serves when it starts and what it handled when it stops. SIGTERM or Ctrl-C "
    f"{STOPPING}, then exits 0. The other settings (batch size, retention, timeouts, ...) "
    f"come from the {ENV_PREFIX}<SETTING> environment variables, as in any process (see "
    f"the plugin's README); {TRANSPORT_ENV} need not be set."
)


def add_worker_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``llmgine worker --group NAME [--url URL] [--stream KEY] ...``."""
    parser = subparsers.add_parser(
        "worker",
        help="consume events and serve remote commands over Redis until SIGTERM or Ctrl-C",
        description=_DESCRIPTION,
    )
    parser.add_argument(
        "--group",
        metavar="NAME",
        required=True,
        help="consumer group to read the events as: one per service (required)",
    )
    parser.add_argument(
        "--url",
        metavar="URL",
        help=f"Redis URL, redis://[[user]:password@]host[:port][/db] with the password "
        f"percent-encoded, rediss:// for TLS (default: ${URL_ENV}, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--stream",
        metavar="KEY",
        help=f"key of the event stream (default: ${ENV_PREFIX}STREAM, else PREFIX:events, "
        f"where PREFIX is ${ENV_PREFIX}PREFIX or llmgine)",
    )
    parser.add_argument(
        "--from-start",
        action="store_true",
        help="a group this worker creates reads the entries the stream still holds too "
        "(default: only entries added from then on; a group that exists goes on where it "
        "stopped either way)",
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="least level of the llmgine log messages shown on stderr (default: info)",
    )
    parser.set_defaults(func=worker_command)


def worker_command(args: argparse.Namespace) -> int:
    """Run ``llmgine worker``: banner, consume and serve until a signal, stop line; 1 if not."""
    configure_logging(args.log_level)
    try:
        run = start_worker(args)
    except MessageBusException as exc:
        return _fail(str(exc))

    def started() -> None:  # (once a signal stops it gracefully)
        _say(run.start_line())
        print("\n".join(run.banner()), flush=True)

    async def serve() -> None:
        try:
            await run.run(report=_say, started=started)
        finally:  # the process ends: the plugins flush and release what they hold
            await run.transport.bus.aclose()

    try:
        asyncio.run(serve())
    except MessageBusException as exc:  # Redis gone before the readers first reached it
        return _fail(str(exc))
    except redis.RedisError as exc:  # refused for this user (an ACL): no retry helps
        return _fail(
            f"Redis at {safe_url(run.transport.config.url)} refused a command the worker "
            f"needs: {_error(exc)}; check that the user's ACL allows the commands the "
            "transport needs (see the llmgine-redis README)"
        )
    _say(run.stop_line())
    return 0


def start_worker(args: argparse.Namespace) -> WorkerRun:
    """Install the transport as a worker on the process-wide bus, checked; raises if it cannot.

    Raises :class:`WorkerStartError` naming the option, variable or URL at fault and
    what to check; nothing is left installed then.
    """
    from llmgine.plugins import register_handlers
    from llmgine.plugins.errors import PluginLoadError

    group = args.group.strip()
    if not group:
        raise WorkerStartError(
            "--group needs a name: the consumer group, one per service (e.g. --group billing)"
        )
    try:
        # The LLMGINE_REDIS_* settings, and the command line's over them.
        settings: dict[str, Any] = env_settings()
        if args.url is not None:
            check_url(args.url, "--url")
            settings["url"] = args.url
        elif "url" in settings:
            check_url(settings["url"], URL_ENV)
        if args.stream:
            settings["stream"] = args.stream
        RedisSettings.of(settings, origin=f"the settings ({ENV_PREFIX}* variables, --stream)")
        # Installed as a worker before the other plugins register: a worker handles,
        # never forwards, so no forwarder can take the place of a plugin's handler.
        transport = install(message_bus, **{**settings, "worker": True})
    except (TypeError, ValueError) as exc:  # the settings' errors name the setting
        raise WorkerStartError(str(exc)) from None
    try:
        check_reachable(transport.config)
    except WorkerStartError:
        disable(message_bus)
        raise
    try:
        register_handlers(message_bus)
    except PluginLoadError as exc:  # e.g. a plugin's database file is no database
        disable(message_bus)
        raise WorkerStartError(str(exc)) from None
    return WorkerRun(transport, group, "0" if args.from_start else "$")


def check_reachable(config: RedisConfig) -> None:
    """Raise :class:`WorkerStartError` unless Redis at ``config.url`` answers PING.

    Checked before a worker starts: once started, its readers ride out outages, which
    would hide a wrong URL or password behind endless retries. The message shows the
    URL without its password and says what to check.
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
        problem = f"{where} refused the login: {_error(exc)}; check {check}"
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        check = "that Redis is running there and reachable from this host, and the URL"
        problem = f"cannot connect to {where}: {_error(exc)}; check {check}"
    except (redis.RedisError, TypeError, ValueError) as exc:  # e.g. an unknown ?option=
        problem = f"{where} does not answer PING: {_error(exc)}; check the URL"
    else:
        return
    raise WorkerStartError(f"{problem} ({URL_FLAGS})")


def configure_logging(level: str) -> None:
    """Show the ``llmgine`` loggers' messages from ``level`` on, other libraries' warnings."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("llmgine").setLevel(level.upper())


def _say(line: str) -> None:
    print(f"llmgine {line}", flush=True)


def _fail(message: str) -> int:
    """Print ``llmgine worker: message`` as one line on stderr; the exit status 1."""
    print(f"llmgine worker: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return 1


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(". ")
