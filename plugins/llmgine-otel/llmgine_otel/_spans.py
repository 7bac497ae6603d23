"""The span-making middleware.

Spans follow causation. A command's span is a child of the current span (so a
dispatch inside a web request, or inside another handler or subscriber, nests
under it); a subscriber call's span is a child of the span of the message that
caused the event (the dispatch that queued it, or the first subscriber call of
the event that did), because events are delivered after that span has ended; an
event received from another process, whose cause ran there, is a child of the
remote span the transport made current (its publisher's). An event with neither
starts a trace: its first subscriber call's span is the root, its other
subscriber calls' spans are children of it. Every span
carries the message id, correlation id and causation id as attributes, so a
whole chain can also be found by its correlation id.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from llmgine.messages import Command, Event
from llmgine.middleware import Around, Next
from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

__all__ = ["ATTRIBUTES", "Spans", "type_name"]

#: The span attributes set, by meaning.
ATTRIBUTES = {
    "type": "llmgine.message.type",
    "kind": "llmgine.message.kind",
    "id": "llmgine.message.id",
    "correlation": "llmgine.correlation_id",
    "causation": "llmgine.causation_id",
    "handler": "llmgine.handler",
    "event_type": "llmgine.event_type",
}

#: How many message ids' span contexts are remembered for parenting (oldest dropped first).
_MEMORY = 10_000


def type_name(cls: type) -> str:
    """``module.QualName`` of ``cls``: how spans and metrics name a message or error type."""
    return f"{cls.__module__}.{cls.__qualname__}"


class Spans:
    """Command and event middleware opening spans; add ``.commands`` and ``.events`` to a bus."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.tracer = trace.get_tracer("llmgine_otel", tracer_provider=tracer_provider)
        self._contexts: OrderedDict[str, trace.SpanContext] = OrderedDict()
        # Dispatches on several threads share this memory: evicting the oldest entry
        # is a read and a delete, which another thread's eviction can get in between.
        self._lock = threading.Lock()
        self.commands = _CommandSpans(self)
        self.events = _SubscriberSpans(self)

    def remember(self, message_id: str, span: trace.Span, replace: bool = False) -> None:
        """Keep ``span`` as the parent for what ``message_id`` causes.

        The first span kept for an id stays, unless ``replace``: a command's last span
        (the attempt that succeeded, under a retry) is the one whose events get published.
        """
        found = span.get_span_context()
        with self._lock:
            if len(self._contexts) >= _MEMORY:
                self._contexts.popitem(last=False)
            if replace:
                self._contexts[message_id] = found
            else:
                self._contexts.setdefault(message_id, found)

    def parent(self, causation_id: str | None) -> context.Context | None:
        """The context of the cause's span, if known; else ``None`` (the current context)."""
        found = self._contexts.get(causation_id) if causation_id else None
        if found is None:
            return None
        return trace.set_span_in_context(trace.NonRecordingSpan(found))

    def start(self, message: Command[Any] | Event, name: str, handler: str) -> trace.Span:
        """Open the span of one handler or subscriber call of ``message``."""
        is_event = isinstance(message, Event)
        message_id = message.event_id if is_event else message.command_id  # type: ignore[union-attr]
        attributes = {
            ATTRIBUTES["type"]: type_name(message.__class__),
            ATTRIBUTES["kind"]: "event" if is_event else "command",
            ATTRIBUTES["id"]: message_id,
            ATTRIBUTES["correlation"]: message.correlation_id or "",
            ATTRIBUTES["causation"]: message.causation_id or "",
            ATTRIBUTES["handler"]: handler,
        }
        if is_event:
            attributes[ATTRIBUTES["event_type"]] = message.event_type  # type: ignore[union-attr]
        # A command's span nests under the current one (the code that dispatched it).
        parent = self.parent(message.causation_id) if is_event else None
        if (
            parent is None
            and is_event
            and not trace.get_current_span().get_span_context().is_remote
        ):
            # An event emitted on its own starts a trace (its first subscriber call's
            # span is the root, the others nest under it, so they share the trace). One
            # from another process is delivered in the trace context its publisher sent
            # (a transport attached it, so the current span is remote): it continues that.
            parent = self.parent(message_id) or context.Context()
        span = self.tracer.start_span(
            name, context=parent, kind=SpanKind.INTERNAL, attributes=attributes
        )
        self.remember(message_id, span, replace=not is_event)
        return span


def _end(span: trace.Span, error: BaseException | None) -> None:
    if error is not None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    span.end()


class _CommandSpans(Around):
    """A span per dispatch, current while the handler runs (so its own spans nest)."""

    def __init__(self, spans: Spans) -> None:
        self.spans = spans

    def _start(self, message: Any, call_next: Next[Any]) -> trace.Span:
        name = f"dispatch {message.__class__.__qualname__}"
        return self.spans.start(message, name, call_next.handler_name)

    def before(self, message: Any, call_next: Next[Any]) -> Any:
        span = self._start(message, call_next)
        return span, context.attach(trace.set_span_in_context(span))

    def after(self, state: Any, error: BaseException | None, result: Any) -> None:
        span, token = state
        context.detach(token)
        _end(span, error)


class _SubscriberSpans(_CommandSpans):
    """A span per subscriber call, current while the subscriber runs.

    An ``async def`` subscriber runs in a task of its own (the bus gives each one a
    task, with a copy of the context), so the span attached here is detached in the
    same context on both paths.
    """

    def _start(self, message: Any, call_next: Next[Any]) -> trace.Span:
        name = f"deliver {message.event_type}"
        return self.spans.start(message, name, call_next.handler_name)
