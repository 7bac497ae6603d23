"""Events out: the bus hands each batch to :class:`RedisOutbox`, which XADDs it in one write.

The hand-over is part of the dispatch: if Redis cannot take the batch (after the
client's connection retries), ``dispatch``/``emit`` raise :class:`TransportError`
and nothing of that batch is delivered locally. Nothing is buffered, so nothing
is dropped silently. A batch that is retried after a lost reply may append
some events twice; consumers skip them by event id.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence

import redis
from llmgine.messages.bus import MessageBus
from llmgine.messages.events import Event
from llmgine.plugins import BusState

from ._clients import LoopClients
from ._config import RedisConfig
from ._outage import outage
from ._packed import xadd_batch
from ._wire import Spec, encode, spec_of
from .errors import TransportError

__all__ = [
    "RedisOutbox",
    "attach_trace",
    "forget_oldest",
    "mark_received",
    "received_ids",
    "trace_context",
]

logger = logging.getLogger("llmgine.redis")

#: the most recent ids of events decoded from Redis that a bus remembers
RECEIVED_MAX = 100_000
_RECEIVED: BusState[dict[str, None]] = BusState("llmgine-redis received event ids")


def received_ids(bus: MessageBus) -> dict[str, None]:
    """The ids of the events ``bus``'s consumers decoded from Redis (the most recent ones).

    The bus never hands deliver()'s event to the outbox; this also stops a subscriber
    that re-emits the event it received. Ids are unique: the same id is the same event.
    """
    return _RECEIVED.setdefault(bus, dict)


def mark_received(bus: MessageBus, event_ids: Iterable[str]) -> None:
    """Remember that the events with these ids came from Redis, so ``bus`` never sends them back."""
    ids = received_ids(bus)
    ids.update(dict.fromkeys(event_ids))
    forget_oldest(ids, RECEIVED_MAX)


def forget_oldest(ids: dict[str, None], keep: int) -> None:
    """Drop the oldest of ``ids`` (insertion order) beyond the newest ``keep``."""
    excess = len(ids) - keep
    if excess > 0:
        # Another thread may be trimming too: then there is nothing to do.
        with contextlib.suppress(RuntimeError, KeyError):
            for event_id in list(itertools.islice(ids, excess)):
                del ids[event_id]


def compile_patterns(patterns: Sequence[str]) -> re.Pattern[str]:
    """One regex for event type patterns: ``*`` is one dot-separated segment, ``**`` any."""
    parts = []
    for pattern in patterns:
        segments = []
        for segment in pattern.split("."):
            if segment == "**":
                segments.append(".*")
            elif segment == "*":
                segments.append("[^.]+")
            else:
                segments.append(re.escape(segment))
        parts.append(r"\.".join(segments))
    return re.compile("|".join(f"(?:{p})" for p in parts) + r"\Z")


def trace_context() -> Mapping[str, str] | None:
    """The W3C trace context of the current OpenTelemetry span, when OpenTelemetry is installed."""
    try:
        from opentelemetry import propagate  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


def attach_trace(carrier: object) -> Callable[[], None] | None:
    """Make the trace context a message carried the current one; return how to undo it.

    A trace that is not a JSON object is ignored, and so is each entry of it whose value
    is not a string: the propagators parse text headers and raise on anything else. One
    that a propagator still fails on is ignored too, with a warning: a bad trace must not
    stop the message itself from being handled (nor the consumer that reads it).
    """
    if not isinstance(carrier, dict):
        return None
    try:
        from opentelemetry import context, propagate  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    headers = {k: v for k, v in carrier.items() if isinstance(v, str)}
    try:
        token = context.attach(propagate.extract(headers))
    except Exception as exc:  # a propagator that chokes on odd text (configurable: any may)
        logger.warning("ignored a message's trace context %r: %r", headers, exc)
        return None
    return lambda: context.detach(token)  # type: ignore[no-any-return,unused-ignore]


class RedisOutbox:
    """An :class:`~llmgine.messages.transport.Outbox` that appends events to a Redis stream.

    Which events go: with ``patterns``, those whose type matches (an unregistered class
    that matches fails the publish with :class:`TransportError`); without, every event
    whose class the message catalogue names, while an unregistered class stays local
    with one :class:`RuntimeWarning` per class. ``received`` holds the ids of events
    that came from Redis, never sent back (see :func:`received_ids`).
    """

    def __init__(self, config: RedisConfig, received: dict[str, None] | None = None) -> None:
        self.config = config
        self.stream = config.event_stream
        self._received = {} if received is None else received
        self._match = compile_patterns(config.patterns) if config.patterns is not None else None
        #: event type -> whether the patterns select it
        self._selected: dict[str, bool] = {}
        #: unregistered classes warned about (once each)
        self._warned: set[type] = set()
        self._sync: redis.Redis | None = None
        self._sync_lock = threading.Lock()
        #: asyncio clients, one per event loop (a bus may emit from loops in several threads)
        self._async = LoopClients(config.async_client)

    def __repr__(self) -> str:
        return f"<RedisOutbox stream={self.stream!r}>"

    def _route(self, event: Event) -> Spec | None:
        """The spec to send ``event`` with, or None to keep it local."""
        if self._match is not None:
            selected = self._selected.get(event.event_type)
            if selected is None:
                selected = self._match.match(event.event_type) is not None
                self._selected[event.event_type] = selected
            if not selected:
                return None
        # Looked up each time (the catalogue answers from a dict): a class registered
        # or removed later is sent, or kept, from then on.
        spec = spec_of(event.__class__)
        if spec is None:
            self._unregistered(event)
        return spec

    def _unregistered(self, event: Event) -> None:
        cls = event.__class__
        name = f"{cls.__module__}.{cls.__qualname__}"
        hook = (
            "name it in its plugin's register_messages(register) hook (register(cls)) in "
            "every service that sends or receives it"
        )
        if self._match is not None:
            raise TransportError(
                f"event {event.event_type!r} ({name}) matches the Redis patterns "
                f"{self.config.patterns} but its class has no wire name; {hook}"
            )
        if cls not in self._warned:
            self._warned.add(cls)
            warnings.warn(
                f"{name} stays local: the Redis transport sends only messages with a wire "
                f"name; {hook} (warned once per class)",
                RuntimeWarning,
                stacklevel=2,
            )

    def _encode(self, events: Sequence[Event]) -> list[bytes]:
        """The entries of the events that go to Redis; raises before anything is sent.

        :class:`WireError` for an event that every consumer would refuse or change
        (over ``max_entry_bytes``, a NaN or infinite float): the consumers' limits,
        checked here so that nothing of the batch is sent.
        """
        out = []
        trace = None
        received = self._received
        limit = self.config.max_entry_bytes
        for event in events:
            spec = self._route(event)
            if spec is None or event.event_id in received:
                continue
            if trace is None:  # one dispatch, one trace context
                trace = trace_context() or {}
            out.append(encode(event, spec, trace, max_bytes=limit))
        return out

    def send(self, events: Sequence[Event]) -> None:
        """XADD the events (that go to Redis) in one write; raise if Redis fails."""
        entries = self._encode(events)
        if not entries:
            return
        client = self._sync if self._sync is not None else self._sync_client()
        try:
            xadd_batch(self.stream, self.config.trim()).send(client, entries)
        except redis.RedisError as exc:
            raise self._failed(len(entries), events, exc) from exc

    async def send_async(self, events: Sequence[Event]) -> None:
        """Like :meth:`send`, with the asyncio client."""
        entries = self._encode(events)
        if not entries:
            return
        client = self._async.get()
        try:
            await xadd_batch(self.stream, self.config.trim()).send_async(client, entries)
        except redis.RedisError as exc:
            raise self._failed(len(entries), events, exc) from exc

    def _failed(self, sent: int, events: Sequence[Event], exc: redis.RedisError) -> TransportError:
        """The error of a publish of ``events`` (``sent`` of them to Redis) that ``exc`` failed."""
        return outage(
            f"could not publish {sent} event(s)", self.config, self.stream, exc, events=events
        )

    def _sync_client(self) -> redis.Redis:
        with self._sync_lock:  # threads share one pool (another one would leak)
            if self._sync is None:
                self._sync = self.config.sync_client()
            return self._sync

    def close(self) -> None:
        """Close the synchronous connection pool and forget the clients of closed event loops.

        The asyncio client of a running event loop closes with :meth:`aclose` in that loop.
        """
        with self._sync_lock:
            client, self._sync = self._sync, None
        if client is not None:
            client.close()
        self._async.forget_closed()

    async def aclose(self) -> None:
        """Close the synchronous pool and this event loop's asyncio client."""
        self.close()
        await self._async.aclose()
