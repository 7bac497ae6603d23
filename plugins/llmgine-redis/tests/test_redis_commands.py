"""Remote commands through a real Redis: result, remote exception, timeout, who forwards."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import attrs
import llmgine_redis
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.errors import AsyncHandlerError
from llmgine.messages.events import Event, ResourceCreatedEvent

pytestmark = pytest.mark.redis


@dataclasses.dataclass
class Summarize(Command[dict[str, Any]]):
    text: str
    words: int = 3


WIRE_NAMES = {Summarize: "test.Summarize"}
REMOTE_TYPES = [Summarize]


def summarize(bus: MessageBus) -> Any:
    async def handle(command: Summarize) -> dict[str, Any]:
        if command.text == "boom":
            raise KeyError("no such document")
        bus.add_pending_event(
            ResourceCreatedEvent(resource_id=command.command_id, resource_type="summary")
        )
        await asyncio.sleep(0)
        return {"summary": " ".join(command.text.split()[: command.words])}

    return handle


def caller_and_worker(config):
    """A caller's bus and transport that forward Summarize, and a worker's that handles it."""
    cfg = attrs.asdict(config())
    caller_bus, worker_bus = MessageBus.isolated(), MessageBus.isolated()
    worker_bus.register_command(Summarize, summarize(worker_bus))
    caller = llmgine_redis.install(caller_bus, **cfg)
    worker = llmgine_redis.install(worker_bus, worker=True, **cfg)
    return caller_bus, caller, worker


async def test_result_and_remote_exception_come_back_and_events_are_published(
    config, prefix, raw, serving
):
    caller_bus, caller, worker = caller_and_worker(config)
    async with serving(worker):
        command = Summarize("one two three four five")
        assert await caller_bus.dispatch_async(command) == {"summary": "one two three"}
        with pytest.raises(llmgine_redis.RemoteCommandError) as info:
            await caller_bus.dispatch_async(Summarize("boom"))
        error = info.value
        assert error.command == "test.Summarize"
        assert error.error_type == "KeyError"
        assert "no such document" in error.remote_message
        assert "raise KeyError" in error.remote_traceback
        with pytest.raises(AsyncHandlerError, match="dispatch_async"):
            caller_bus.dispatch(Summarize("sync callers must await"))
    await caller.aclose()  # after serving stopped (on failure, conftest closes them)
    await worker.aclose()
    events = raw.xrange(prefix + ":events")
    assert len(events) == 1  # the worker's handler queued one event; it was published
    assert command.command_id.encode() in events[0][1][b"m"]


async def test_timeout_raises_a_clear_error(config):
    bus = MessageBus.isolated()
    caller = llmgine_redis.install(bus, **attrs.asdict(config(command_timeout=0.2)))
    try:
        with pytest.raises(llmgine_redis.RemoteCommandTimeout, match="llmgine worker"):
            await bus.dispatch_async(Summarize("nobody listens"))
    finally:
        await caller.aclose()


def test_a_process_with_a_handler_or_a_worker_never_forwards(config):
    local = MessageBus.isolated()
    handler = summarize(local)
    local.register_command(Summarize, handler)
    llmgine_redis.install(local, **attrs.asdict(config()))
    assert local.command_handlers()[Summarize][1] is None  # still the real handler
    worker = MessageBus.isolated()
    llmgine_redis.install(worker, worker=True, **attrs.asdict(config()))
    assert Summarize not in worker.command_handlers()
    caller = MessageBus.isolated()
    transport = llmgine_redis.install(caller, **attrs.asdict(config()))
    assert "forwards" in str(caller.command_handlers()[Summarize][1])
    assert transport.command_server() is None  # a forwarder is not a handler to serve
    for bus in (local, worker, caller):
        llmgine_redis.disable(bus)
    assert Summarize not in caller.command_handlers()


def test_remote_needs_a_wire_name():
    class Unnamed(Command[None]):
        pass

    with pytest.raises(TypeError, match=r"Unnamed.* has no wire name; .*register_messages"):
        llmgine_redis.remote(Unnamed)


def test_installed_but_not_selected_changes_nothing(monkeypatch):
    from llmgine_redis import plugin as _plugin

    monkeypatch.delenv("LLMGINE_TRANSPORT", raising=False)
    bus = MessageBus.isolated()
    _plugin.startup(bus)
    assert bus.outbox is None
    status = _plugin.plugin_status()
    assert not status.active
    assert "LLMGINE_TRANSPORT=redis" in (status.activate or "")
    monkeypatch.setenv("LLMGINE_TRANSPORT", "redis")
    _plugin.startup(bus)
    assert bus.outbox is not None
    assert _plugin.plugin_status().active
    _plugin.shutdown(bus)
    assert bus.outbox is None


def test_register_type_rejects_clashes_and_non_message_classes():
    @dataclasses.dataclass
    class Other(Event):
        x: int

    with pytest.deprecated_call(), pytest.raises(ValueError, match=r"is claimed by .*Summarize"):
        llmgine_redis.register_type(Other, "test.Summarize")
    with pytest.deprecated_call(), pytest.raises(TypeError, match="Event or Command"):
        llmgine_redis.register_type(dict, "test.dict")
    with pytest.deprecated_call(), pytest.raises(ValueError, match="is registered as"):
        llmgine_redis.register_type(Summarize, "test.Other")


async def test_a_command_the_worker_cannot_decode_is_refused_at_once(config, prefix, raw, serving):
    caller_bus, caller, worker = caller_and_worker(config)
    async with serving(worker):
        # A caller on a newer version sends a value of the wrong type: no 30 s wait.
        with pytest.raises(llmgine_redis.RemoteCommandError, match="invalid-fields") as info:
            await caller_bus.dispatch_async(Summarize("text", words="three"))  # type: ignore[arg-type]
        assert info.value.error_type == "WireError"
    await caller.aclose()  # after serving stopped (on failure, conftest closes them)
    await worker.aclose()
    dead = raw.xrange(f"{prefix}:commands:test.Summarize:dead")
    assert [r[b"reason"] for _, r in dead] == [b"invalid-fields"]
