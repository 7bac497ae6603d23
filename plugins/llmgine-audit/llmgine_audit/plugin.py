"""The hook implementations (the ``audit`` entry point) and the ``"*"`` subscriber."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import llmgine
from llmgine.messages.bus import MessageBus, message_bus
from llmgine.messages.errors import AsyncHandlerError
from llmgine.messages.events import Event, SystemEvent
from llmgine.plugins import PluginStatus

from ._config import LOG_ENV, get_audit_log, on_configured
from ._log import AuditLog

__all__ = ["plugin_status", "record_event", "register_subscribers", "shutdown", "startup"]


def record_event(event: Event) -> None:
    """Append ``event`` to the audit log; never raises for a failing disk.

    When writing starts failing, a ``system.audit.error`` event is queued once (for
    alerting subscribers); when it works again, a ``system.audit.info`` event saying
    how many events were dropped, which lands in the log itself and marks the gap.
    """
    log = get_audit_log()
    if log is None:
        return
    change = log.write(event)
    if change is None and log.failing and log in _unreported:
        change = "failed"  # the startup report that could not be published then
    if change is not None:
        _unreported.discard(log)
        message_bus.add_pending_event(_report(change, log.last_error, str(log.path), log.dropped))


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


#: Key of ``MessageBus.extensions`` marking a bus the plugin started on; ``bus.reset()``,
#: which forgets the bus's plugins, clears it.
_EXTENSION = "llmgine-audit"
#: The buses the plugin started on, for configure() to attach the log to later.
_buses: weakref.WeakSet[MessageBus] = weakref.WeakSet()
#: Makes "not subscribed yet, so subscribe" one step (configure() may race startup).
_attach_lock = threading.Lock()
#: Logs whose failure at startup is not reported yet: ``record_event`` queues the report.
_unreported: weakref.WeakSet[AuditLog] = weakref.WeakSet()


def _attach(bus: MessageBus) -> None:
    """Subscribe ``record_event`` to every event on ``bus``, once, if a log is configured."""
    with _attach_lock:
        if get_audit_log() is None or any(s.handler is record_event for s in bus.subscriptions):
            return
        bus.subscribe_event("*", record_event)


def _attach_to_loaded_buses() -> None:
    """After a late ``configure()``: attach the log to the buses the plugin is still on."""
    for bus in list(_buses):
        if _EXTENSION in bus.extensions:
            _attach(bus)


on_configured.append(_attach_to_loaded_buses)


@llmgine.hookimpl
def register_subscribers(subscribe: Callable[[Any, Callable[[Any], Any]], object]) -> None:
    """Subscribe ``record_event`` to every event, if an audit log is configured."""
    if get_audit_log() is not None:
        subscribe("*", record_event)


@llmgine.hookimpl
def startup(bus: MessageBus) -> None:
    """Open the log file now, so a bad path is reported at startup, not at the first event.

    Also remembers the bus, so that ``configure()`` called later attaches the log to it.
    """
    bus.extensions[_EXTENSION] = True
    _buses.add(bus)
    _attach(bus)  # configured between registration and startup
    log = get_audit_log()
    if log is not None and log.open() == "failed":
        try:
            bus.emit(_report("failed", log.last_error, str(log.path), log.dropped))
        except AsyncHandlerError:
            # emit() refuses an event with async subscribers (a "*" one, say) before any
            # runs; a bad path must not stop the application from starting. The failure
            # is logged already; the report goes out with the next event instead.
            _unreported.add(log)


@llmgine.hookimpl
def shutdown(bus: MessageBus) -> None:
    """Close the log file (a later event reopens it)."""
    log = get_audit_log()
    if log is not None:
        log.close()


@llmgine.hookimpl
def plugin_status() -> PluginStatus:
    """Idle until ``LLMGINE_AUDIT_LOG`` (or ``configure``) names a file; else where it writes."""
    log = get_audit_log()
    if log is None:
        return PluginStatus(active=False, activate=f"set {LOG_ENV}=/path/to/audit.jsonl")
    detail = f"appending every event to {log.path}"
    if log.dropped:
        detail += f"; {log.dropped} event(s) dropped, last error: {log.last_error}"
    return PluginStatus(active=True, detail=detail)
