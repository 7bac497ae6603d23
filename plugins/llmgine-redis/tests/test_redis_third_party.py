"""A third-party plugin's own event crosses Redis between two processes, named for the
transport by its ``register_messages`` hook alone (no llmgine_redis.register_type)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.redis, pytest.mark.slow]

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "acme-billing"
version = "0.0.1"
dependencies = ["llmgine-messages"]

[project.entry-points."llmgine.plugins"]
billing = "acme_billing.plugin"
"""

PLUGIN = """\
import dataclasses

import llmgine
from llmgine.messages.events import Event
from llmgine.plugins import RegisterMessage


@dataclasses.dataclass
class InvoicePaid(Event):
    invoice: str
    amount: float
    lines: list[str]


@llmgine.hookimpl
def register_messages(register: RegisterMessage) -> None:
    register(InvoicePaid)  # the default wire name: acme_billing.plugin.InvoicePaid
"""

# Both processes: only the two plugins, the bus set up as an application would.
SETUP = """\
import json, sys
import llmgine_redis
from llmgine.messages.bus import MessageBus
from llmgine.plugins import get_message_catalog, register_handlers

url, prefix = sys.argv[1], sys.argv[2]
bus = MessageBus.isolated()
register_handlers(bus)
transport = llmgine_redis.install(bus, url=url, prefix=prefix, block_ms=50)
from acme_billing.plugin import InvoicePaid
"""

PUBLISH = """\
bus.emit(InvoicePaid("inv-7", 12.5, ["tea", "cake"]))
llmgine_redis.disable(bus)
"""

CONSUME = """\
import asyncio, time

got = []
bus.subscribe_event(InvoicePaid, got.append)

async def consume():
    reader = transport.consumer("billing-svc")
    await reader.ensure_groups("0")  # also what the publisher wrote before
    deadline = time.monotonic() + 30
    while not got and time.monotonic() < deadline:
        await reader.poll()
    await reader.drain()

asyncio.run(consume())
name = get_message_catalog().name_of(InvoicePaid)
print(json.dumps({
    "name": name,
    "source": get_message_catalog().source_of(name),
    "got": [[type(e).__name__, e.invoice, e.amount, e.lines] for e in got],
}))
"""


def _install_plugin(tmp_path: Path) -> Path:
    """Build acme-billing and pip-install it into a directory of its own; return that."""
    source = tmp_path / "acme-billing"
    (source / "acme_billing").mkdir(parents=True)
    (source / "pyproject.toml").write_text(PYPROJECT)
    (source / "acme_billing" / "__init__.py").write_text("")
    (source / "acme_billing" / "plugin.py").write_text(PLUGIN)
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    done = subprocess.run(
        [*pip, "--no-deps", "--target", str(site), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"
    assert list(site.glob("acme_billing-0.0.1.dist-info/entry_points.txt"))
    return site


def _run(site: Path, code: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGINE_")}
    env["PYTHONPATH"] = str(site)
    env["LLMGINE_LOAD_PLUGINS"] = "billing,redis"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_a_plugins_event_crosses_redis_between_two_processes_by_register_messages(
    tmp_path, redis_url, prefix, raw
):
    site = _install_plugin(tmp_path)
    _run(site, SETUP + PUBLISH, redis_url, prefix)
    ((_, entry),) = raw.xrange(f"{prefix}:events")
    assert json.loads(entry[b"m"])["type"] == "acme_billing.plugin.InvoicePaid"
    report = json.loads(_run(site, SETUP + CONSUME, redis_url, prefix).splitlines()[-1])
    assert report["name"] == "acme_billing.plugin.InvoicePaid"
    assert "billing" in report["source"]
    assert report["got"] == [["InvoicePaid", "inv-7", 12.5, ["tea", "cake"]]]
