"""The hook implementations (the ``audit`` entry point) and the ``"*"`` subscriber."""

from __future__ import annotations

import threading

import llmgine
from llmgine.messages.bus import MessageBus, message_bus
from llmgine.messages.errors import AsyncHandlerError
from llmgine.messages.events import Event, SystemEvent
from llmgine.plugins import PluginStatus, Subscribe

from ._state import LOG_ENV, AuditState, find_state, state_of

__all__ = [
    "Recorder",
    "attach",
    "plugin_status",
    "record_event",
    "register_subscribers",
    "shutdown",
    "startup",
]


def record_event(event: Event, bus: MessageBus = message_bus) -> None:
    """Append ``event`` to ``bus``'s audit log; never raises for a failing disk.

    When writing starts failing, a ``system.audit.error`` event is queued once (for
    alerting subscribers); when it works again, a ``system.audit.info`` event saying
    how many events were dropped, which lands in the log itself and marks the gap.
    """
    state = state_of(bus)
    log = state.log
    if log is None:
        return
    change = log.write(event)
    if change is None and log.failing and state.unreported:
        change = "failed"  # the startup report that could not be published then
    if change is not None:
        state.unreported = False
        bus.add_pending_event(_report(change, log.last_error, str(log.path), log.dropped))


class Recorder:
    """The subscriber of one bus: :func:`record_event` into that bus's log."""

    __slots__ = ("bus",)

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    def record(self, event: Event) -> None:
        """:func:`record_event` on this bus."""
        record_event(event, self.bus)


def _report(change: str, error: str | None, path: str, dropped: int) -> SystemEvent:
    if change == "failed":
        return SystemEvent(
            component="audit",
            severity="error",
            message=f"cannot write the audit log {path}: {error}; events are being dropped",
            details={"path": path, "error": error, "dropped_total": dropped},
        )
    return SystemEvent(
        component="audit",
        severity="info",
        message=f"the audit log {path} is writable again after dropping events",
        details={"path": path, "last_error": error, "dropped_total": dropped},
    )


#: Makes "not subscribed yet, so subscribe" one step (install() may race startup).
_attach_lock = threading.Lock()


def attach(bus: MessageBus) -> None:
    """Subscribe a :class:`Recorder` to every event on ``bus``, once, if a log is configured."""
    with _attach_lock:
        if state_of(bus).log is None or any(
            isinstance(getattr(s.handler, "__self__", None), Recorder) for s in bus.subscriptions
        ):
            return
        bus.subscribe_event("*", Recorder(bus).record)


@llmgine.hookimpl
def register_subscribers(subscribe: Subscribe, bus: MessageBus) -> None:
    """Subscribe ``bus``'s :class:`Recorder` to every event, if an audit log is configured."""
    if state_of(bus).log is not None:
        subscribe("*", Recorder(bus).record)


@llmgine.hookimpl
def startup(bus: MessageBus) -> None:
    """Open the log file now, so a bad path is reported at startup, not at the first event."""
    attach(bus)  # configured between registration and startup
    state = state_of(bus)
    log = state.log
    if log is not None and log.open() == "failed":
        try:
            bus.emit(_report("failed", log.last_error, str(log.path), log.dropped))
        except AsyncHandlerError:
            # emit() refuses an event with async subscribers (a "*" one, say) before any
            # runs; a bad path must not stop the application from starting. The failure
            # is logged already; the report goes out with the next event instead.
            state.unreported = True


@llmgine.hookimpl
def shutdown(bus: MessageBus) -> None:
    """Close ``bus``'s log file (a later event reopens it)."""
    state = find_state(bus)
    if state is not None and state.log is not None:
        state.log.close()


@llmgine.hookimpl
def plugin_status() -> PluginStatus:
    """Idle until ``LLMGINE_AUDIT_LOG`` (or ``install``) names a file; else where it writes."""
    state: AuditState = find_state(message_bus) or AuditState.from_env()
    log = state.log
    if log is None:
        return PluginStatus(
            active=False,
            activate=f"set {LOG_ENV}=/path/to/audit.jsonl, or call "
            "llmgine_audit.install(bus, log=path)",
        )
    detail = f"appending every event to {log.path}"
    if log.dropped:
        detail += f"; {log.dropped} event(s) dropped, last error: {log.last_error}"
    return PluginStatus(active=True, detail=detail)
