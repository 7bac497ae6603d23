"""Printing the tree of commands and the events they caused, for a human at a terminal.

Set ``LLMGINE_TRACE=1`` (or run ``llmgine trace -- python app.py``) and
``register_handlers()`` installs a tracer on the bus it registers on; or call
:func:`install_tracing` yourself. Each line is indented under the message that
caused it (using the causation ids the bus stamps), so a dispatch prints as::

    ▶ app.PlaceOrder #1
    ✔ app.PlaceOrder #1 -> 'o_1' in 0.9 ms
      ● order.placed (app.OrderPlaced) #2
        → app.send_receipt
        ▶ app.ChargeCard #3
        ✔ app.ChargeCard #3 -> 'ch_1' in 0.1 ms

A failure prints ``✘ ... raised ValueError: why``, a cancellation ``✖ ... cancelled
after 12.0 ms``. On a stream whose encoding lacks these marks (ascii, latin-1) they
are ``>``, ``ok``, ``x``, ``*`` and ``->``.

Lines appear as things happen: an event is printed when its delivery starts,
which is after the handler that queued it returned. Ids are shown by their
per-process counter (``#3``); the full ids are in the messages.

Two filters keep long runs readable: ``only`` (``LLMGINE_TRACE_ONLY``, ``llmgine
trace --only``) prints only the lines about message types matching comma-separated
fnmatch patterns (on the dotted name, the class name or the event type; ``!PATTERN``
excludes), each at its own depth; ``depth`` (``LLMGINE_TRACE_DEPTH``, ``--depth``)
hides lines nested deeper than N, 0 being the top level.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, TextIO

from . import _trace_watch
from ._trace_options import DEPTH_ENV, ONLY_ENV, Glyphs, LineFilter, glyphs_for
from .messages._middleware import Next
from .messages._naming import callable_name, type_name
from .messages.bus import MessageBus
from .messages.commands import Command
from .messages.events import Event
from .middleware import Around

__all__ = ["DEPTH_ENV", "ONLY_ENV", "Tracer", "install_tracing"]

#: How many message ids the tracer remembers the depth of (oldest forgotten first).
_MEMORY = 10_000


def _short(message_id: str | None) -> str:
    return "#" + message_id.rpartition("-")[2] if message_id else "#?"


def _ms(start: float) -> str:
    return f"{(time.perf_counter() - start) * 1000:.1f} ms"


_CANCELLED = (asyncio.CancelledError, concurrent.futures.CancelledError)


def _raised(error: BaseException) -> str:
    """``raised Type: message``, or ``raised Type`` when the message is empty."""
    try:
        text = str(error)
    except Exception:  # a broken __str__ must not break the dispatch being traced
        text = "<str() failed>"
    return f"raised {type(error).__name__}: {text}" if text else f"raised {type(error).__name__}"


class Tracer:
    """Prints each command, event and subscriber call, indented under its cause.

    ``only`` and ``depth`` filter the lines (see the module docs); ``None`` takes them
    from ``LLMGINE_TRACE_ONLY`` and ``LLMGINE_TRACE_DEPTH`` (unset: no filter). A bad
    ``only`` or ``depth`` raises ``ValueError``.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        only: str | Iterable[str] | None = None,
        depth: int | None = None,
    ) -> None:
        self._stream = stream
        #: which lines are printed
        self.filter = LineFilter(only, depth)
        self._depth: OrderedDict[str, int] = OrderedDict()
        # Dispatches on several threads share the depths: evicting the oldest is a read
        # and a delete, which another thread's eviction could get in between.
        self._lock = threading.Lock()
        # The glyphs are chosen once per stream (sys.stderr may be replaced meanwhile).
        self._out: tuple[TextIO, Glyphs, str | None] | None = None
        #: the command and event middleware to install (see :func:`install_tracing`)
        self.commands = _CommandTrace(self)
        self.events = _EventTrace(self)

    def _write(self, depth: int, mark: str, text: str) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        out = self._out
        if out is None or out[0] is not stream:
            out = self._out = (stream, *glyphs_for(stream))
        line = f"{'  ' * depth}{getattr(out[1], mark)} {text}"
        if out[2] is not None:  # escaped rather than raising UnicodeEncodeError mid-dispatch
            line = line.encode(out[2], "backslashreplace").decode(out[2])
        print(line, file=stream, flush=True)

    def enter(self, message_id: str, causation_id: str | None) -> int:
        """Remember and return the depth of ``message_id``: one below its cause."""
        depth = self._depth.get(causation_id, -1) + 1 if causation_id else 0
        with self._lock:
            if len(self._depth) >= _MEMORY:
                self._depth.popitem(last=False)
            self._depth[message_id] = depth
        return depth

    def command_started(self, command: Command[Any]) -> tuple[int, float]:
        """Print the start of a command's handling."""
        depth = self.enter(command.command_id, command.causation_id)
        if self.filter.shows(depth, command.__class__):
            name = type_name(command.__class__)
            self._write(depth, "start", f"{name} {_short(command.command_id)}")
        return depth, time.perf_counter()

    def command_done(
        self,
        command: Command[Any],
        started: tuple[int, float],
        error: BaseException | None,
        result: Any,
    ) -> None:
        """Print the end of a command's handling: its result, exception or cancellation."""
        depth, start = started
        if not self.filter.shows(depth, command.__class__):
            return
        # (with its id: concurrent dispatches of one class finish in any order)
        name = f"{type_name(command.__class__)} {_short(command.command_id)}"
        if error is None:
            self._write(depth, "done", f"{name} -> {_brief(result)} in {_ms(start)}")
        elif isinstance(error, _CANCELLED):
            self._write(depth, "cancelled", f"{name} cancelled after {_ms(start)}")
        else:
            self._write(depth, "failed", f"{name} {_raised(error)} in {_ms(start)}")

    def subscriber_started(self, event: Event, subscriber: str) -> int:
        """Print the event (on its first subscriber) and the subscriber being called."""
        # Once per event: a subscriber may cause events of its own (printed in between)
        # before the event's next subscriber is called.
        # (read once: another thread may forget it in between)
        depth = self._depth.get(event.event_id)
        if depth is None:
            depth = self.enter(event.event_id, event.causation_id)
            if self.filter.shows(depth, event.__class__, event.event_type):
                kind = type_name(event.__class__)
                self._write(depth, "event", f"{event.event_type} ({kind}) {_short(event.event_id)}")
        depth += 1
        if subscriber != _NOOP and self.filter.shows(depth, event.__class__, event.event_type):
            self._write(depth, "call", subscriber)
        return depth

    def subscriber_failed(
        self, depth: int, subscriber: str, error: BaseException, event: Event | None = None
    ) -> None:
        """Print a subscriber's exception or cancellation (``event``: the one it was given,
        for the filter)."""
        if event is not None and not self.filter.shows(depth, event.__class__, event.event_type):
            return
        if isinstance(error, _CANCELLED):
            self._write(depth, "cancelled", f"{subscriber} cancelled")
        else:
            self._write(depth, "failed", f"{subscriber} {_raised(error)}")


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _CommandTrace(Around):
    """Command middleware printing each dispatch (sync and async)."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer

    def before(self, message: Any, call_next: Next[Any]) -> Any:
        return message, self.tracer.command_started(message)

    def after(self, state: Any, error: BaseException | None, result: Any) -> None:
        command, started = state
        self.tracer.command_done(command, started, error, result)


class _EventTrace(_CommandTrace):
    """Event middleware printing each event and subscriber call (sync and async)."""

    def before(self, message: Any, call_next: Next[Any]) -> Any:
        name = call_next.handler_name
        return self.tracer.subscriber_started(message, name), name, message

    def after(self, state: Any, error: BaseException | None, result: Any) -> None:
        if error is not None:
            depth, name, event = state
            self.tracer.subscriber_failed(depth, name, error, event)


def _every_event(event: Event) -> None:
    """Subscribed to ``"*"`` so that events nobody else subscribes to are traced too."""


_NOOP = callable_name(_every_event)
_traced: weakref.WeakKeyDictionary[MessageBus, Tracer] = weakref.WeakKeyDictionary()


def install_tracing(
    bus: MessageBus,
    stream: TextIO | None = None,
    *,
    only: str | Iterable[str] | None = None,
    depth: int | None = None,
) -> Tracer:
    """Print the tree of commands and events handled on ``bus`` to ``stream`` (stderr).

    ``only``: comma-separated fnmatch patterns (or a list of them) on message type
    names; only the lines about matching types are printed, and ``!PATTERN``
    excludes. ``depth``: lines nested deeper than this are not printed (0: the top
    level only). Either left ``None`` is read from ``LLMGINE_TRACE_ONLY`` /
    ``LLMGINE_TRACE_DEPTH`` (unset or empty: no filter; a bad value there is ignored
    with a ``RuntimeWarning``); a bad value given here raises ``ValueError``.

    Installing twice on one bus returns the first tracer (with its filters). The
    tracer's middleware go innermost (after any already added), so it times the
    handler itself.
    """
    tracer = _traced.get(bus)
    if tracer is None or tracer.commands not in bus.middleware.command:  # e.g. a restored bus
        tracer = _traced[bus] = Tracer(stream, only=only, depth=depth)
        bus.add_command_middleware(tracer.commands)
        bus.add_event_middleware(tracer.events)
        bus.subscribe_event("*", _every_event)
    _trace_watch.traced()
    return tracer
