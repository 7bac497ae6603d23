"""The wire codec builds what the class would, with the ids sent; XADD batches stay in step."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import attrs
import llmgine_redis
import pytest
from llmgine.messages import events as core_events
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import Command
from llmgine.messages.events import Event
from llmgine.plugins import get_message_catalog
from llmgine_redis import TransportError, WireError
from llmgine_redis._wire import Spec, _build, decode, encode, spec_of

seen_in_post_init: list[str] = []


@dataclasses.dataclass
class Noted(Event):
    note: str

    def __post_init__(self) -> None:
        seen_in_post_init.append(self.event_id)


class Tagged(Event):
    """An event with its own ``__new__``: rebuilt by calling the class."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Tagged:
        self = super().__new__(cls)
        self.tag = "made by __new__"
        return self


@dataclasses.dataclass
class TaggedNote(Tagged):
    note: str


@dataclasses.dataclass
class Counted(Event):
    label: str
    count: int = 0
    note: str | None = None


def round_trip(event: Event) -> Any:
    # Not registered (the round-trip test of test_redis_events expects its own set): the
    # registration's spec, decoded past the lookup by name.
    spec = spec_of(type(event)) or Spec(type(event), "test.wire.x", "event")
    return _build(spec, json.loads(encode(event, spec)))


def test_decoded_core_events_equal_the_originals_and_validate_alike():
    event = core_events.ResourceCreatedEvent(
        resource_id="r1", resource_type="doc", resource_data={"a": 1}, correlation_id="c"
    )
    back = round_trip(event)
    assert back == event
    assert type(back) is type(event)
    assert attrs.asdict(back) == attrs.asdict(event)
    doc = json.loads(encode(event, spec_of(type(event))))  # type: ignore[arg-type]
    for bad in ({"resource_id": ""}, {"resource_data": [1]}, {"resource_type": 3}):
        hostile = {**doc, "fields": {**doc["fields"], **bad}}
        with pytest.raises(WireError) as caught:
            decode(json.dumps(hostile), "event", 1 << 20)
        assert caught.value.reason == "invalid-fields"


def test_user_events_get_their_wire_ids_and_their_own_new_still_runs():
    seen_in_post_init.clear()
    event = Noted("hi")
    back = round_trip(event)
    assert (back.event_id, back.timestamp, back.note) == (event.event_id, event.timestamp, "hi")
    # The class is called, then the sent ids are set: __post_init__ ran, with fresh ids.
    assert len(seen_in_post_init) == 2
    assert seen_in_post_init[1] != event.event_id
    tagged = round_trip(TaggedNote("x"))
    assert tagged.tag == "made by __new__"
    assert tagged.note == "x"


def test_optional_fields_may_be_left_out_and_are_checked_when_given():
    spec = Spec(Counted, "test.wire.Counted", "event")
    doc = json.loads(encode(Counted("a", 2, "n"), spec))
    assert (_build(spec, doc).count, _build(spec, doc).note) == (2, "n")
    left_out = {**doc, "fields": {"label": "b"}}
    assert (_build(spec, left_out).count, _build(spec, left_out).note) == (0, None)
    for bad in ({"note": 5}, {"count": True}, {"count": "2"}, {"label": None}):
        with pytest.raises(WireError) as caught:
            _build(spec, {**doc, "fields": {**doc["fields"], **bad}})
        assert caught.value.reason == "invalid-fields"
        assert str(caught.value).startswith(f"invalid-fields: test.wire.Counted.{next(iter(bad))}")


RESERVED = (
    r"contains '{}': names of streams, and the wire names and prefix that make them, may not "
    r"end in ':dead' nor contain ':seen:' or ':consumers:'"
)


@pytest.mark.parametrize(
    ("name", "part"),
    [
        ("billing.Charge:dead", ":dead"),  # the dead letters of billing.Charge's stream
        ("billing.Charge:consumers:llmgine-workers", ":consumers:"),  # its heartbeats
        ("billing:seen:x", ":seen:"),
    ],
)
def test_names_that_would_make_one_streams_key_anothers_are_refused(name, part):
    # A remote command's stream is {prefix}:commands:{wire name}: with these names one
    # stream's dead letters or heartbeats would be another command's stream. (A command:
    # test_redis_events round-trips every registered event class.)
    @dataclasses.dataclass
    class Charge(Command[None]):
        amount: int

    reserved = RESERVED.format(part)
    with (
        pytest.deprecated_call(),
        pytest.raises(ValueError, match=rf"wire name '{name}' of .*Charge {reserved}"),
    ):
        llmgine_redis.register_type(Charge, name)
    assert name not in llmgine_redis.registered()
    # Named by a plugin's register_messages hook, the transport refuses it at first use,
    # naming the class and who registered it.
    get_message_catalog().register(Charge, name, source="plugin 'billing'")
    try:
        with pytest.raises(
            ValueError, match=rf"wire name '{name}' of .*Charge \(registered by plugin 'billing'\)"
        ):
            llmgine_redis.remote(Charge)
    finally:
        get_message_catalog().remove_source("plugin 'billing'")
    with pytest.raises(ValueError, match=rf"RedisConfig\.stream '{name}' {reserved}"):
        llmgine_redis.RedisConfig(stream=name)
    with pytest.raises(ValueError, match=rf"RedisConfig\.prefix '{name}' {reserved}"):
        llmgine_redis.install(MessageBus.isolated(), prefix=name)
    # Colons elsewhere are fine.
    with pytest.deprecated_call():
        llmgine_redis.register_type(Charge, f"test.wire.{part.strip(':')}.Charge:v2")
    assert llmgine_redis.RedisConfig(stream="app:dead-ends", prefix="app:seen").prefix == "app:seen"


@pytest.mark.redis
async def test_an_error_reply_in_a_batch_fails_it_and_the_next_batch_goes_through(config, raw):
    cfg = config()
    bus = MessageBus.isolated()
    llmgine_redis.install(bus, **attrs.asdict(cfg))

    async def emit_sync(resource_id: str) -> None:
        bus.emit(core_events.ResourceDeletedEvent(resource_id=resource_id, resource_type="t"))

    async def emit_async(resource_id: str) -> None:
        await bus.emit_async(
            core_events.ResourceDeletedEvent(resource_id=resource_id, resource_type="t")
        )

    for emit in (emit_sync, emit_async):  # the sync and the asyncio client
        raw.set(cfg.event_stream, "not a stream")
        with pytest.raises(TransportError, match="WRONGTYPE"):
            await emit("a")
        raw.delete(cfg.event_stream)
        for i in range(3):
            await emit(f"b{i}")
        sent = [
            json.loads(f[b"m"])["fields"]["resource_id"] for _, f in raw.xrange(cfg.event_stream)
        ]
        assert sent == ["b0", "b1", "b2"]
    llmgine_redis.disable(bus)


@pytest.mark.parametrize(
    "error",
    [
        WireError("bad-json", "line 1"),
        llmgine_redis.RemoteCommandError("app.Charge", "ValueError", "no card", "Traceback ..."),
        TransportError("redis://127.0.0.1:6379 refused a write"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_the_plugins_errors_pickle_with_their_attributes(error: Exception) -> None:
    """A process pool's worker sends an exception back pickled (cls(*args) missed some)."""
    import pickle

    twin = pickle.loads(pickle.dumps(error))
    assert type(twin) is type(error)
    assert str(twin) == str(error)
    assert vars(twin) == vars(error)


@pytest.mark.parametrize("session_id", ["conversation-7", None])
def test_the_session_id_travels_on_the_wire(session_id: str | None) -> None:
    plain = Counted("x")  # (the fast path: the base's __new__, then __init__)
    plain.session_id = session_id
    frozen = core_events.ResourceCreatedEvent("r1", "doc")  # (called: a frozen attrs class)
    object.__setattr__(frozen, "session_id", session_id)
    for event in (plain, frozen):
        back = round_trip(event)
        assert back.session_id == session_id
        assert back.correlation_id == event.correlation_id


def test_a_message_from_a_writer_without_session_ids_has_none() -> None:
    event = Counted("x")
    spec = Spec(Counted, "test.wire.x", "event")
    doc = json.loads(encode(event, spec))
    del doc["session_id"]  # as 0.2 wrote it
    assert _build(spec, doc).session_id is None


@pytest.mark.parametrize("bad", [7, "", ["s"]])
def test_a_session_id_that_is_not_a_string_is_refused_naming_it(bad: object) -> None:
    spec = Spec(Counted, "test.wire.x", "event")
    doc = json.loads(encode(Counted("x"), spec))
    doc["session_id"] = bad
    with pytest.raises(WireError, match=r"test\.wire\.x\.session_id must be a string or null"):
        _build(spec, doc)
