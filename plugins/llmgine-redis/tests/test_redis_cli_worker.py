"""``llmgine worker``: its help, banner, stop line, ``--log-level``, errors and output encoding.

Failures are :class:`~llmgine_redis.WorkerStartError` (a ``MessageBusException``) raised
by :func:`start_worker` and printed by the subcommand as one line; the tests check
both: the error and its message in-process, and the command's exit status and stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import llmgine_redis
import pytest
from faultkit import free_port
from llmgine.cli import build_parser
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import CreateResourceCommand
from llmgine.messages.errors import MessageBusException
from llmgine.messages.events import Event, ResourceCreatedEvent
from llmgine_redis import WorkerStartError
from llmgine_redis._cli import check_reachable, start_worker
from llmgine_redis._worker import WorkerRun, duration

pytestmark = pytest.mark.redis


def worker_parser() -> argparse.ArgumentParser:
    """The parser of ``llmgine worker``, as ``llmgine`` builds it."""
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            parser: argparse.ArgumentParser = action.choices["worker"]
            return parser
    raise AssertionError("llmgine has no subcommands")


def test_help_names_each_option_by_its_metavar_with_its_default_in_plain_text() -> None:
    text = worker_parser().format_help()
    assert "usage: llmgine worker [-h] --group NAME [--url URL] [--stream KEY]" in text
    assert "[--log-level {debug,info,warning,error}]" in text
    assert "consumer group NAME" in text  # the description uses the metavar the usage shows
    flat = " ".join(text.split())
    assert "(default: $LLMGINE_REDIS_URL, else redis://127.0.0.1:6379/0)" in flat
    assert "(default: $LLMGINE_REDIS_STREAM, else PREFIX:events, where PREFIX is" in flat
    assert "(default: info)" in flat
    assert "(required)" in flat
    for markup in ("``", ":func:", ":class:", ":mod:"):
        assert markup not in text
    for action in worker_parser()._actions:
        assert action.help, f"{action.option_strings} has no help"


def test_log_level_takes_only_the_four_levels(capsys: pytest.CaptureFixture[str]) -> None:
    parser = worker_parser()
    assert parser.parse_args(["--group", "g"]).log_level == "info"
    assert parser.parse_args(["--group", "g", "--log-level", "debug"]).log_level == "debug"
    with pytest.raises(SystemExit):
        parser.parse_args(["--group", "g", "--log-level", "verbose"])
    assert "invalid choice: 'verbose'" in capsys.readouterr().err


def args(*argv: str) -> argparse.Namespace:
    return worker_parser().parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["--group", " "], {}, "--group needs a name: the consumer group, one per service"),
        (
            ["--group", "g", "--url", "redis://:pa/s3cret@127.0.0.1/0"],
            {},
            "--url redis://*** is not a Redis URL redis-py accepts",
        ),
        (
            ["--group", "g"],
            {"LLMGINE_REDIS_URL": "http://example.org"},
            "LLMGINE_REDIS_URL http://example.org is not a Redis URL redis-py accepts "
            "(Redis URL must specify one of the following schemes",
        ),
        (
            ["--group", "g"],
            {"LLMGINE_REDIS_BATCH": "0"},
            "the settings (LLMGINE_REDIS_* variables, --stream): RedisConfig.batch must be "
            "at least 1; got 0",
        ),
        (
            ["--group", "g"],
            {"LLMGINE_REDIS_BATCH": "lots"},
            "environment variable LLMGINE_REDIS_BATCH='lots' must be a whole number",
        ),
        (
            ["--group", "g", "--stream", "events:dead"],
            {},
            "RedisConfig.stream 'events:dead' contains ':dead'",
        ),
    ],
    ids=["blank-group", "url-unescaped", "url-scheme", "batch-0", "batch-text", "stream"],
)
def test_a_bad_setting_is_a_worker_start_error_naming_it_before_anything_is_installed(
    argv: list[str], env: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(WorkerStartError) as info:
        start_worker(args(*argv))
    assert isinstance(info.value, MessageBusException)
    assert expected in str(info.value)
    assert "s3cret" not in str(info.value)
    assert llmgine_redis.transport_of() is None


def test_unreachable_redis_is_a_worker_start_error_with_the_url_masked_and_the_fix() -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    with pytest.raises(WorkerStartError) as info:
        check_reachable(llmgine_redis.RedisConfig(url=url, retries=0))
    message = str(info.value)
    assert f"cannot connect to Redis at {url.replace('s3cret', '***')}" in message
    assert "check that Redis is running there and reachable from this host" in message
    assert message.endswith("(--url or LLMGINE_REDIS_URL)")


def test_reachable_redis_passes_the_check(config) -> None:
    check_reachable(config())


@attrs.frozen
class Odd(Event):
    """An event type subscribed to by its class."""

    event_type = "test.odd"


def handle_create(command: CreateResourceCommand) -> str:
    return "r1"


def test_the_banner_lists_redis_stream_group_consumer_subscriptions_commands_and_stop(
    config, redis_url
) -> None:
    bus = MessageBus.isolated()
    bus.subscribe_event("resource.*", print)
    bus.subscribe_event(Odd, repr)
    bus.register_command(CreateResourceCommand, handle_create)
    url = redis_url.replace("redis://", "redis://user:s3cret@")
    cfg = attrs.asdict(config(url=url))
    transport = llmgine_redis.install(
        bus, worker=True, remote=["llmgine.CreateResourceCommand"], **cfg
    )
    run = WorkerRun(transport, "billing", "0")
    stream = f"{cfg['prefix']}:commands:llmgine.CreateResourceCommand"
    assert run.start_line() == "worker billing: started"
    assert run.banner() == [
        f"  Redis            {redis_url.replace('redis://', 'redis://user:***@')}",
        f"  event stream     {cfg['prefix']}:events",
        "  group            billing (a new group reads from the oldest entry)",
        f"  consumer         {run.consumer.consumer}",
        "  subscriptions    resource.* -> builtins.print",
        "                   Odd -> builtins.repr",
        "  remote commands  as group llmgine-workers:",
        f"                   llmgine.CreateResourceCommand on stream {stream}",
        "  stop             SIGTERM or Ctrl-C stops reading, finishes and acknowledges the "
        "work in flight (a second signal exits at once)",
    ]
    assert run.server is not None
    assert run.server.consumer == run.consumer.consumer
    assert "s3cret" not in run.summary()


def test_a_worker_with_nothing_to_do_says_so(config) -> None:
    transport = llmgine_redis.install(MessageBus.isolated(), worker=True, **attrs.asdict(config()))
    banner = WorkerRun(transport, "svc").banner()
    assert "  subscriptions    none: no installed plugin subscribes to events" in banner[4]
    assert banner[5] == (
        "  remote commands  none: this process handles none of the remote command types"
    )
    assert "(a new group reads from new entries)" in banner[2]


async def test_the_stop_line_says_what_stopped_it_after_how_long_and_what_it_handled(
    config, raw
) -> None:
    # (only these: the worker's bus reports the failure with an event of its own)
    cfg = attrs.asdict(config(max_attempts=1, patterns=("resource.*",)))
    worker_bus = MessageBus.isolated()

    def fussy(event: ResourceCreatedEvent) -> None:
        if event.resource_id == "bad":
            raise ValueError("not this one")

    worker_bus.subscribe_event("resource.created", fussy)
    run = WorkerRun(llmgine_redis.install(worker_bus, worker=True, **cfg), "svc", "0")
    sender = MessageBus.isolated()
    llmgine_redis.install(sender, **cfg)
    for rid in ("a", "b", "bad"):
        sender.emit(ResourceCreatedEvent(resource_id=rid, resource_type="t"))
    task = asyncio.ensure_future(run.run(signals=False))
    deadline = time.monotonic() + 20
    while run.consumer.processed + run.consumer.dead_lettered < 3:
        assert time.monotonic() < deadline, run.stop_line()
        await asyncio.sleep(0.02)
    run.stop()
    await asyncio.wait_for(task, 20)
    line = run.stop_line()
    assert line.startswith("worker svc stopped by stop() after ")
    assert line.endswith(": 2 events handled, 0 duplicates skipped, 1 dead-lettered")
    assert raw.xlen(f"{cfg['prefix']}:events:dead") == 1


async def test_a_cancelled_run_stops_its_readers_and_finishes_before_it_ends(config) -> None:
    # asyncio.run's own Ctrl-C handler cancels the run (a signal before the worker's
    # handlers were in place): the readers must stop, not be left reading.
    cfg = attrs.asdict(config(patterns=("resource.*",)))
    worker_bus = MessageBus.isolated()
    worker_bus.subscribe_event("resource.created", lambda event: None)
    run = WorkerRun(llmgine_redis.install(worker_bus, worker=True, **cfg), "svc", "0")
    began = asyncio.Event()
    task = asyncio.ensure_future(run.run(signals=False, started=began.set))
    await asyncio.wait_for(began.wait(), 20)
    await asyncio.sleep(0.2)  # (the readers are reading)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 20)
    assert run.stopped_by == "cancellation"
    assert run.stop_line().startswith("worker svc stopped by cancellation after ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.04, "0.0 s"), (12.34, "12.3 s"), (245, "4 min 05 s"), (7380, "2 h 03 min")],
)
def test_durations_read_as_people_write_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@attrs.define
class Worker:
    """An ``llmgine worker`` process whose stdout and stderr go to files."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path
    encoding: str

    def stop(self) -> tuple[str, str]:
        """SIGTERM it, wait for it to exit 0, and return its stdout and stderr."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            assert self.proc.wait(20) == 0
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        return self.out.read_text(self.encoding), self.err.read_text(self.encoding)


def start(tmp_path: Path, redis_url: str, prefix: str, *extra: str, **env: str) -> Worker:
    """Start ``llmgine worker --group svc`` on ``prefix`` and wait for its banner."""
    environ = {
        **os.environ,
        "LLMGINE_REDIS_URL": redis_url,
        "LLMGINE_REDIS_PREFIX": prefix,
        "LLMGINE_REDIS_BLOCK_MS": "50",
        **env,
    }
    environ.pop("LLMGINE_TRANSPORT", None)
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmgine.cli", "worker", "--group", "svc", *extra],
            env=environ,
            stdout=stdout,
            stderr=stderr,
        )
    worker = Worker(proc, out, err, env.get("PYTHONIOENCODING", "utf-8"))
    deadline = time.monotonic() + 20
    while b"  stop " not in out.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"no banner: {out.read_bytes()!r} {err.read_bytes()!r}")
        time.sleep(0.05)
    return worker


@pytest.mark.slow
@pytest.mark.parametrize("level", ["warning", "error"])
def test_log_level_sets_what_the_llmgine_loggers_show(
    tmp_path: Path, redis_url: str, prefix: str, raw: Any, level: str
) -> None:
    # (--from-start: the entry below may come before the worker created its group)
    worker = start(tmp_path, redis_url, prefix, "--from-start", "--log-level", level)
    # An entry no consumer can decode: dead-lettered, with a warning on llmgine.redis.
    raw.xadd(f"{prefix}:events", {"m": b"not json"})
    deadline = time.monotonic() + 20
    while not raw.exists(f"{prefix}:events:dead"):
        assert time.monotonic() < deadline, "not dead-lettered"
        time.sleep(0.05)
    out, err = worker.stop()
    assert ("WARNING llmgine.redis: dead-lettered" in err) == (level == "warning")
    assert "1 dead-lettered" in out.splitlines()[-1]
    assert "Traceback" not in out + err


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_terminal_that_cannot_encode_a_name_gets_escapes_not_a_traceback(
    tmp_path: Path, redis_url: str, prefix: str, encoding: str
) -> None:
    # A stream key the terminal cannot encode: shown escaped in the banner.
    worker = start(
        tmp_path,
        redis_url,
        prefix,
        "--stream",
        f"{prefix}:\u00e9v\u2192",
        PYTHONIOENCODING=encoding,
    )
    out, err = worker.stop()
    escaped = "\\xe9v\\u2192" if encoding == "ascii" else "\u00e9v\\u2192"
    assert f"  event stream     {prefix}:{escaped}" in out
    assert "Traceback" not in err
    assert out.isascii() or encoding == "latin-1"


@pytest.mark.slow
def test_an_acl_that_refuses_what_a_worker_needs_ends_it_with_one_line(redis_server) -> None:
    # The user may log in and PING (the check before the start), nothing more.
    acl = ("--user", "reader", "on", ">pw", "~*", "+ping")
    server = redis_server(persist=False, extra=acl)
    url = f"redis://reader:pw@127.0.0.1:{server.port}/0"
    env = {**os.environ}
    env.pop("LLMGINE_TRANSPORT", None)
    done = subprocess.run(
        [sys.executable, "-m", "llmgine.cli", "worker", "--group", "svc", "--url", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith(
        f"llmgine worker: Redis at redis://reader:***@127.0.0.1:{server.port}/0 refused a "
        "command the worker needs: NoPermissionError: "
    )
    assert last.endswith(
        "check that the user's ACL allows the commands the transport needs "
        "(see the llmgine-redis README)"
    )
    assert ":pw@" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("setting", "least"),
    [
        ("batch", 1),
        ("max_deliveries", 1),
        ("max_attempts", 1),
        ("command_concurrency", 1),
        ("reply_ttl", 1),
        ("retries", 0),
    ],
)
def test_a_count_below_its_least_value_is_refused_naming_it(setting: str, least: int) -> None:
    # batch=0 made a worker's every read fail and retry for ever ("COUNT must be > 0").
    with pytest.raises(ValueError, match=rf"RedisConfig.{setting} must be at least {least}"):
        llmgine_redis.RedisConfig(**{setting: least - 1})
    assert getattr(llmgine_redis.RedisConfig(**{setting: least}), setting) == least
