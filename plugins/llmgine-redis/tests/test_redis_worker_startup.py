"""``llmgine worker`` says in one line why it cannot start, and what it serves once it has."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faultkit import free_port

pytestmark = [pytest.mark.slow, pytest.mark.redis]

SECRET = "s3cret"


def worker(url: str, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``llmgine worker --group svc --url url`` to its end (it should not start)."""
    environ = {**os.environ, **env}
    environ.pop("LLMGINE_TRANSPORT", None)
    return subprocess.run(
        [sys.executable, "-m", "llmgine.cli", "worker", "--group", "svc", "--url", url, *extra],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single line a worker that could not start printed (it exited with 1)."""
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("llmgine worker: ")
    assert SECRET not in done.stderr + done.stdout
    return lines[0]


@pytest.mark.parametrize(
    "auth", [f":{SECRET}@", ""], ids=["password-in-user-info", "password-in-query"]
)
def test_an_unreachable_url_is_one_line_naming_it_masked(auth):
    port = free_port()
    query = "" if auth else f"?password={SECRET}"
    line = one_line_error(worker(f"redis://{auth}127.0.0.1:{port}/0{query}"))
    assert f"cannot connect to Redis at redis://{':***@' if auth else ''}127.0.0.1:{port}/0" in line
    assert "Connection refused" in line
    assert "check that Redis is running there" in line
    assert "--url or LLMGINE_REDIS_URL" in line


def test_a_wrong_or_missing_password_is_one_line(redis_server):
    server = redis_server(password="right-pw", persist=False)
    wrong = server.url.replace("right-pw", SECRET)
    line = one_line_error(worker(wrong))
    assert f"Redis at redis://:***@127.0.0.1:{server.port}/0 refused the login" in line
    assert "AuthenticationError" in line
    assert "check the user name and password in the URL" in line
    line = one_line_error(worker(f"redis://127.0.0.1:{server.port}/0"))
    assert "refused the login" in line


def test_a_url_redis_py_cannot_read_is_one_line_without_the_password():
    # The '/' in the password is not escaped: redis-py would read "pa" as the port.
    line = one_line_error(worker(f"redis://:pa/{SECRET}@127.0.0.1:6379/0"))
    assert "--url redis://*** is not a Redis URL redis-py accepts" in line
    assert "percent-encode '/'" in line
    assert "'pa'" not in line


def test_the_banner_says_what_the_worker_serves_and_a_signal_prints_a_stop_line(
    redis_url, prefix, tmp_path: Path
):
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "LLMGINE_REDIS_URL": redis_url,
        "LLMGINE_REDIS_PREFIX": prefix,
        "LLMGINE_REDIS_BLOCK_MS": "50",
        # the resources plugin handles it, so this worker serves it
        "LLMGINE_REDIS_REMOTE": "llmgine.CreateResourceCommand",
    }
    env.pop("LLMGINE_TRANSPORT", None)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmgine.cli", "worker", "--group", "svc"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while "SIGTERM or Ctrl-C stops reading" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no banner: " + log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "Traceback" not in text
    command = "llmgine.CreateResourceCommand"
    assert (
        f"""llmgine worker svc: started
  Redis            {redis_url}
  event stream     {prefix}:events
  group            svc (a new group reads from new entries)
"""
        in text
    )
    assert (
        f"""
  remote commands  as group llmgine-workers:
                   {command} on stream {prefix}:commands:{command}
  stop             SIGTERM or Ctrl-C stops reading, finishes and acknowledges the work in flight"""
        " (a second signal exits at once)\n" in text
    )
    assert "<EventConsumer" not in text  # what it serves, not a repr
    assert "llmgine worker svc: SIGINT: stops reading, finishes and acknowledges" in text
    assert text.index("SIGINT: stops reading") < text.index("llmgine worker svc stopped by SIGINT")
