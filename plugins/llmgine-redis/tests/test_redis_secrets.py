"""A password in a Redis URL, in any form redis-py takes, never appears in what the plugin shows."""

from __future__ import annotations

import os
import subprocess
import sys

import llmgine_redis
import pytest
from faultkit import free_port
from llmgine.messages.bus import MessageBus
from llmgine.messages.events import ResourceDeletedEvent
from llmgine_redis import RedisConfig
from llmgine_redis._urls import safe_url

#: every secret below contains this, so one check covers each form
SECRET = "s3cret"


def _forms(port: int) -> list[str]:
    """URLs to 127.0.0.1:``port`` holding SECRET in each way a password can be written."""
    return [
        f"redis://:{SECRET}@127.0.0.1:{port}/0",  # user info
        f"redis://user:{SECRET}@127.0.0.1:{port}/0",
        f"redis://127.0.0.1:{port}/0?password={SECRET}",  # the query, which redis-py reads
        f"redis://127.0.0.1:{port}/0?db=0&pass%77ord={SECRET}",  # an encoded name counts
        f"rediss://127.0.0.1:{port}/0?ssl_password={SECRET}",
        f"redis://127.0.0.1:{port}/0?password=p@{SECRET}",
        f"redis://:pa/{SECRET}@127.0.0.1:{port}/0",  # unescaped '/': urlsplit misreads it
        f"redis://:pa?{SECRET}@127.0.0.1:{port}/0",
        f"redis://:pa#{SECRET}@127.0.0.1:{port}/0",
        f"redis://u:12/{SECRET}@127.0.0.1:{port}/0",
        f"redis://user:{SECRET}",  # no host: the password looks like a port
        f"redis://[::1/{SECRET}",  # not even urlsplit reads it
        f"{SECRET}",
    ]


@pytest.mark.parametrize("url", _forms(6379))
def test_safe_url_masks_every_form_of_secret(url):
    shown = safe_url(url)
    assert SECRET not in shown
    assert "***" in shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:pw@host:6379/0?db=1", "redis://:***@host:6379/0?db=1"),
        ("redis://user:pw@host/0", "redis://user:***@host/0"),
        ("redis://host/0?password=pw&db=2", "redis://host/0?password=***&db=2"),
        ("unix:///run/redis.sock?password=pw", "unix:///run/redis.sock?password=***"),
        ("rediss://:pw@[::1]:6380/0", "rediss://:***@[::1]:6380/0"),
        ("redis://:pa/ss@host:6379/0", "redis://***"),
    ],
)
def test_safe_url_keeps_what_is_no_secret(url, shown):
    assert safe_url(url) == shown


@pytest.mark.parametrize("url", _forms(6379)[:6])
def test_the_repr_of_a_config_and_an_install_conflict_mask_the_url(url):
    assert SECRET not in repr(RedisConfig(url=url))
    bus = MessageBus.isolated()
    llmgine_redis.install(bus, url=url, retries=0)  # (nothing connects yet)
    with pytest.raises(ValueError, match="already has the Redis transport") as info:
        llmgine_redis.install(bus, url=url, retries=0, prefix="other")
    assert SECRET not in str(info.value)
    assert "***" in str(info.value)
    llmgine_redis.disable(bus)


@pytest.mark.parametrize("url", _forms(free_port()))
def test_a_failing_install_never_shows_the_secret(url):
    # Either install refuses a URL redis-py cannot read, or Redis is unreachable there.
    bus = MessageBus.isolated()

    def install_and_emit() -> None:
        llmgine_redis.install(bus, url=url, retries=0)
        bus.emit(ResourceDeletedEvent(resource_id="r", resource_type="t"))

    with pytest.raises((ValueError, llmgine_redis.TransportError)) as info:
        install_and_emit()
    assert SECRET not in str(info.value)
    assert "***" in str(info.value)
    llmgine_redis.disable(bus)


@pytest.mark.slow
@pytest.mark.parametrize("url", [_forms(6379)[i] for i in (2, 6)])  # query; unescaped '/'
def test_llmgine_plugins_never_shows_the_secret(url):
    env = {**os.environ, "LLMGINE_TRANSPORT": "redis", "LLMGINE_REDIS_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "llmgine.cli", "plugins"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert "redis" in output
    assert SECRET not in output
    assert "***" in output
