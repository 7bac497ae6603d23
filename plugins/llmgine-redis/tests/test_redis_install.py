"""install(bus, **settings): per-bus state, idempotence with register_handlers, the settings
and their environment variables, unregistered events, and the deprecated setup names."""

from __future__ import annotations

import dataclasses
import importlib
import sys
import warnings

import attrs
import llmgine_redis
import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event
from llmgine.plugins import get_message_catalog, register_handlers
from llmgine_redis import plugin
from llmgine_redis._wire import spec_of

pytestmark = pytest.mark.redis


@dataclasses.dataclass
class Paid(Event):
    invoice: str


@dataclasses.dataclass
class Charge(Command[None]):
    amount: int


WIRE_NAMES = {Paid: "test.install.Paid", Charge: "test.install.Charge"}


@pytest.fixture
def only_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """register_handlers() loads llmgine-redis alone (if it has not loaded plugins yet)."""
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "redis")
    for name in ("LLMGINE_TRANSPORT", "LLMGINE_REDIS_URL", "LLMGINE_REDIS_STREAM"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("only_redis")
def test_install_then_register_handlers_keeps_one_transport_with_the_install_settings(
    config, monkeypatch
):
    # The environment selects Redis with another stream: it must not win over install.
    monkeypatch.setenv("LLMGINE_TRANSPORT", "redis")
    monkeypatch.setenv("LLMGINE_REDIS_STREAM", "from-the-environment")
    settings = attrs.asdict(config())
    bus = MessageBus.isolated()
    transport = llmgine_redis.install(bus, remote=[Charge], **settings)
    assert llmgine_redis.install(bus, remote=[Charge], **settings) is transport
    register_handlers(bus)
    register_handlers(bus)
    assert llmgine_redis.transport_of(bus) is transport
    assert bus.outbox is transport.outbox
    assert transport.config == config()
    assert bus.command_handlers()[Charge][1] == "llmgine-redis (forwards to a worker)"
    bus.close()  # the shutdown hook stops it...
    assert llmgine_redis.transport_of(bus) is None
    assert bus.outbox is None
    register_handlers(bus)  # ... and a new start uses the install settings again
    again = llmgine_redis.transport_of(bus)
    assert again is not None
    assert again is not transport
    assert again.config == config()
    bus.close()


@pytest.mark.usefixtures("only_redis")
def test_install_after_register_handlers_replaces_the_environments_transport(config, monkeypatch):
    monkeypatch.setenv("LLMGINE_TRANSPORT", "redis")
    monkeypatch.setenv("LLMGINE_REDIS_STREAM", "from-the-environment")
    bus = MessageBus.isolated()
    register_handlers(bus)
    from_env = llmgine_redis.transport_of(bus)
    assert from_env is not None
    assert from_env.config.event_stream == "from-the-environment"
    transport = llmgine_redis.install(bus, **attrs.asdict(config()))
    assert transport is not from_env
    assert transport.config == config()
    assert bus.outbox is transport.outbox
    register_handlers(bus)
    assert llmgine_redis.transport_of(bus) is transport
    bus.close()


def test_install_with_other_settings_is_refused_until_disabled(config):
    bus = MessageBus.isolated()
    llmgine_redis.install(bus, **attrs.asdict(config()))
    with pytest.raises(ValueError, match=r"other settings.*llmgine_redis\.disable\(bus\) first"):
        llmgine_redis.install(bus, **attrs.asdict(config(batch=3)))
    llmgine_redis.disable(bus)
    assert llmgine_redis.install(bus, **attrs.asdict(config(batch=3))).config.batch == 3
    llmgine_redis.disable(bus)


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"bogus": 1}, TypeError, r"install\(\): unknown setting\(s\) bogus; the settings are url"),
        ({"batch": "3"}, TypeError, r"install\(\): setting batch must be a whole number, not '3'"),
        ({"maxlen": 1.5}, TypeError, r"setting maxlen must be a whole number or None, not 1\.5"),
        ({"patterns": "a.*"}, TypeError, r"setting patterns must be a sequence of strings"),
        ({"worker": "yes"}, TypeError, r"setting worker must be True or False"),
        ({"remote": [3]}, TypeError, r"setting remote must hold command classes or wire names"),
        ({"block_ms": 0}, ValueError, r"install\(\): RedisConfig\.block_ms must be at least 1"),
        ({"remote": ["test.install.Nope"]}, ValueError, r"remote names 'test\.install\.Nope'"),
    ],
)
def test_install_refuses_bad_settings_naming_them(settings, error, message):
    bus = MessageBus.isolated()
    with pytest.raises(error, match=message):
        llmgine_redis.install(bus, **settings)
    assert llmgine_redis.transport_of(bus) is None


def test_every_setting_is_an_llmgine_redis_environment_variable(monkeypatch, config):
    cfg = config()
    monkeypatch.setenv("LLMGINE_TRANSPORT", "redis")
    for name, value in {
        "URL": cfg.url,
        "PREFIX": cfg.prefix,
        "PATTERNS": "test.*, billing.**",
        "MAXLEN": "none",
        "RETRY_BACKOFF": "0.5",
        "BATCH": "7",
        "WORKER": "yes",
        "REMOTE": " test.install.Charge ",
    }.items():
        monkeypatch.setenv(f"LLMGINE_REDIS_{name}", value)
    bus = MessageBus.isolated()
    plugin.startup(bus)
    transport = llmgine_redis.transport_of(bus)
    assert transport is not None
    assert (transport.config.url, transport.config.prefix) == (cfg.url, cfg.prefix)
    assert transport.config.patterns == ("test.*", "billing.**")
    assert (transport.config.maxlen, transport.config.retry_backoff) == (None, 0.5)
    assert (transport.config.batch, transport.worker) == (7, True)
    assert Charge in transport.remote_types()
    plugin.shutdown(bus)
    assert llmgine_redis.transport_of(bus) is None
    monkeypatch.setenv("LLMGINE_REDIS_BATCH", "seven")
    with pytest.raises(ValueError, match=r"LLMGINE_REDIS_BATCH='seven' must be a whole number"):
        plugin.startup(bus)
    monkeypatch.setenv("LLMGINE_REDIS_BATCH", "7")
    monkeypatch.setenv("LLMGINE_REDIS_BACH", "7")
    with pytest.warns(RuntimeWarning, match="LLMGINE_REDIS_BACH is not a setting"):
        plugin.startup(bus)
    plugin.shutdown(bus)


def test_a_remote_setting_forwards_that_type_on_its_bus_only(config):
    settings = attrs.asdict(config())
    with_remote, without = MessageBus.isolated(), MessageBus.isolated()
    llmgine_redis.install(with_remote, remote=["test.install.Charge"], **settings)
    llmgine_redis.install(without, **settings)
    assert Charge in with_remote.command_handlers()
    assert Charge not in without.command_handlers()
    assert Charge not in llmgine_redis.remote_types()  # no process-wide mark
    for bus in (with_remote, without):
        llmgine_redis.disable(bus)
    assert Charge not in with_remote.command_handlers()


def test_two_isolated_buses_one_on_redis_one_local(config, raw):
    cfg = config()
    on_redis, local = MessageBus.isolated(), MessageBus.isolated()
    llmgine_redis.install(on_redis, **attrs.asdict(cfg))
    got: list[str] = []
    local.subscribe_event(Paid, lambda e: got.append(e.invoice))
    on_redis.subscribe_event(Paid, lambda e: got.append(e.invoice))
    local.emit(Paid("local"))
    on_redis.emit(Paid("sent"))
    assert got == ["local", "sent"]  # both delivered locally
    assert local.outbox is None
    entries = raw.xrange(cfg.event_stream)
    assert [e[b"m"].count(b'"invoice":"sent"') for _, e in entries] == [1]
    llmgine_redis.disable(on_redis)


def test_an_unregistered_event_stays_local_with_one_warning_per_class(config, raw):
    @dataclasses.dataclass
    class Local(Event):
        n: int

    @dataclasses.dataclass
    class Other(Event):
        n: int

    cfg = config()
    bus = MessageBus.isolated()
    llmgine_redis.install(bus, **attrs.asdict(cfg))
    got: list[Event] = []
    bus.subscribe_event("**", got.append)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(3):
            bus.emit(Local(n))
            bus.emit(Other(n))
        bus.emit(Paid("p"))
    messages = [str(w.message) for w in caught if w.category is RuntimeWarning]
    assert len(messages) == 2
    for name, message in zip(("Local", "Other"), messages, strict=True):
        assert f"{name} stays local" in message
        assert "register_messages(register) hook" in message
    assert len(got) == 7  # every event is delivered here all the same
    assert raw.xlen(cfg.event_stream) == 1  # only Paid went to Redis
    llmgine_redis.disable(bus)


def test_the_catalogue_is_read_at_each_use_so_a_spec_never_goes_stale():
    @dataclasses.dataclass
    class Moving(Event):
        n: int

    catalog = get_message_catalog()
    for name in ("test.install.Moving", "test.install.Moved"):
        assert spec_of(Moving) is None
        catalog.register(Moving, name, source="test")
        spec = spec_of(Moving)
        assert spec is not None
        assert spec.name == name  # not the spec compiled for the name before
        catalog.remove_source("test")
    assert spec_of(Moving) is None


def test_the_deprecated_setup_names_warn_naming_the_replacement_and_work(config):
    @dataclasses.dataclass
    class Legacy(Event):
        n: int

    bus = MessageBus.isolated()
    with pytest.deprecated_call(match=r"llmgine_redis\.install\(bus, \*\*settings\)"):
        transport = llmgine_redis.enable(bus, **attrs.asdict(config()))
    assert llmgine_redis.transport_of(bus) is transport
    assert llmgine_redis.install(bus, **attrs.asdict(config())) is transport
    llmgine_redis.disable(bus)

    with pytest.deprecated_call(match="register_messages"):
        llmgine_redis.register_type(Legacy, "test.install.Legacy")
    catalog = get_message_catalog()
    assert catalog.class_of("test.install.Legacy") is Legacy
    assert catalog.source_of("test.install.Legacy") == "application"
    catalog.remove_source("application")

    sys.modules.pop("llmgine_redis._plugin", None)
    with pytest.deprecated_call(match=r"the entry point is llmgine_redis\.plugin"):
        old = importlib.import_module("llmgine_redis._plugin")
    assert old is plugin
