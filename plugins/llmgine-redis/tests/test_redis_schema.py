"""The ``describe_channels`` hook: the streams ``llmgine schema --asyncapi`` shows for Redis.

No Redis is needed: describing the transport connects to nothing.
"""

from __future__ import annotations

import dataclasses
import os

import attrs
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event, SystemEvent
from llmgine.plugins import ChannelInfo, TransportInfo
from llmgine_redis import plugin
from llmgine_redis._outbox import compile_patterns


@dataclasses.dataclass
class Charge(Command[str]):
    amount: int


@dataclasses.dataclass
class Refund(Command[str]):
    amount: int


@dataclasses.dataclass
class Charged(Event):
    event_type = "billing.charged"
    amount: int


@dataclasses.dataclass
class Audited(Event):
    event_type = "audit.entry"


WIRE_NAMES = {Charge: "billing:Charge", Refund: "billing.Refund", Charged: "billing.Charged"}
WIRE_NAMES[Audited] = "audit.Entry"
#: marked remote in code (by the conftest); Refund is named in the environment instead
REMOTE_TYPES = (Charge,)
#: what describe_channels receives: the catalogue's wire names and classes
MESSAGES = {name: cls for cls, name in WIRE_NAMES.items()}


@pytest.fixture(autouse=True)
def _no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in list(os.environ):
        if variable == "LLMGINE_TRANSPORT" or variable.startswith("LLMGINE_REDIS_"):
            monkeypatch.delenv(variable)


def test_hook_describe_channels_is_none_unless_the_transport_is_selected() -> None:
    assert plugin.describe_channels(MESSAGES, MessageBus.isolated()) is None


def test_hook_describe_channels_of_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGINE_TRANSPORT", "redis")
    monkeypatch.setenv("LLMGINE_REDIS_URL", "rediss://app:hunter2@cache.example:6390/3")
    monkeypatch.setenv("LLMGINE_REDIS_PREFIX", "shop")
    monkeypatch.setenv("LLMGINE_REDIS_PATTERNS", "billing.*")
    monkeypatch.setenv("LLMGINE_REDIS_REMOTE", "billing.Refund")
    described = plugin.describe_channels(MESSAGES, MessageBus.isolated())
    assert isinstance(described, TransportInfo)
    assert (described.name, described.protocol) == ("redis", "redis")
    assert (described.host, described.pathname) == ("cache.example:6390", "/3")
    assert "hunter2" not in repr(described)
    events, *commands = described.channels
    assert events == ChannelInfo(
        name="events",
        address="shop:events",
        messages=("billing.Charged",),  # audit.entry does not match the patterns
        description="The event stream (Redis stream shop:events): the event classes whose "
        "type matches billing.*. Each consumer group gets every event; dead letters go "
        "to shop:events:dead.",
    )
    by_name = {c.name: c for c in commands}
    # a wire name's ':' is no channel-name character; the address keeps it
    assert by_name["commands.billing_Charge"].address == "shop:commands:billing:Charge"
    assert by_name["commands.billing_Charge"].messages == ("billing:Charge",)
    assert by_name["commands.billing.Refund"].address == "shop:commands:billing.Refund"
    assert "llmgine-workers" in by_name["commands.billing.Refund"].description


def test_hook_describe_channels_names_an_unknown_remote_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLMGINE_TRANSPORT", "redis")
    monkeypatch.setenv("LLMGINE_REDIS_REMOTE", "billing.Nothing")
    with pytest.raises(ValueError, match=r"setting remote names 'billing\.Nothing'"):
        plugin.describe_channels(MESSAGES, MessageBus.isolated())


def test_hook_describe_channels_without_patterns_carries_every_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLMGINE_TRANSPORT", "redis")
    monkeypatch.setenv("LLMGINE_REDIS_URL", "unix:///run/redis.sock")
    described = plugin.describe_channels(MESSAGES, MessageBus.isolated())
    assert described is not None
    assert (described.host, described.pathname) == ("localhost", "/run/redis.sock")
    assert described.channels[0].address == "llmgine:events"
    assert described.channels[0].messages == ("billing.Charged", "audit.Entry")


@attrs.frozen
class Measured(Event):
    """Typed per instance, with no event_type_pattern: it may have any type."""

    name: str
    event_type: str = attrs.field(init=False, default=attrs.Factory(lambda s: s.name, True))


@pytest.mark.parametrize(
    ("patterns", "listed"),
    [
        ("**", {"billing.Charged", "audit.Entry", "llmgine.SystemEvent", "metrics.Measured"}),
        ("system.**", {"llmgine.SystemEvent", "metrics.Measured"}),
        ("system.*.error", {"llmgine.SystemEvent", "metrics.Measured"}),
        ("billing.*,**.error", {"billing.Charged", "llmgine.SystemEvent", "metrics.Measured"}),
        # Redis patterns: "*" is one segment, and a SystemEvent's type has three
        ("*", {"metrics.Measured"}),
        ("system.*", {"metrics.Measured"}),
        ("billing.*", {"billing.Charged", "metrics.Measured"}),
    ],
)
def test_hook_describe_channels_lists_events_typed_per_instance_when_patterns_may_match(
    monkeypatch: pytest.MonkeyPatch, patterns: str, listed: set[str]
) -> None:
    monkeypatch.setenv("LLMGINE_TRANSPORT", "redis")
    monkeypatch.setenv("LLMGINE_REDIS_PATTERNS", patterns)
    messages = {**MESSAGES, "llmgine.SystemEvent": SystemEvent, "metrics.Measured": Measured}
    described = plugin.describe_channels(messages, MessageBus.isolated())
    assert described is not None
    events = described.channels[0]
    assert set(events.messages) == listed
    # what the channel lists does travel: the outbox's own matching agrees
    if "llmgine.SystemEvent" in listed:
        event = SystemEvent(component="db", severity="error", message="down")
        assert compile_patterns(tuple(patterns.split(","))).match(event.event_type)
    guessed = [name for name in ("llmgine.SystemEvent", "metrics.Measured") if name in listed]
    assert f"(those of {', '.join(guessed)}, decided per instance, may match)" in (
        events.description
    )
