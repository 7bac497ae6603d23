"""Publishing a session's ``SessionStarted`` and ``SessionEnded`` (see :mod:`._sessions`).

Two rules keep these events from being lost:

- On the sync paths (``with``, ``close()``, a session's ``emit``/``dispatch``), an
  ``async def`` subscriber of one of them is refused *before* the session's state
  changes, as ``emit`` refuses before any subscriber runs: the session is as it was,
  and its async form (``async with``, ``aclose()``, ...) still publishes the event. A
  sync ``with`` block that already ended keeps its end for ``aclose()`` instead.
- Publishing the end after a block that raised never replaces the block's exception:
  the publishing error is logged and added to it as a note.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._naming import type_name
from .errors import AsyncHandlerError

if TYPE_CHECKING:
    from ._registry import SubscriberRegistry
    from .events import Event

__all__ = ["SYNC_CALLS", "end_events", "keep_body_error", "refuse_async"]


def refuse_async(
    registry: SubscriberRegistry,
    events: list[type[Event]],
    session_id: str,
    *,
    own: bool,
    sync: str,
) -> None:
    """Raise :class:`AsyncHandlerError` if one of ``events`` (classes) has ``async def``
    subscribers, which the plain call ``sync`` (a key of :data:`SYNC_CALLS`) cannot
    await. ``own``: whether the session's own subscribers receive them (its start; not
    its end, published once they are gone)."""
    for event_class in events:
        name: str = event_class.event_type
        plan = registry.plan(event_class, name, session_id if own else None)
        if plan.async_subscribers:
            names = ", ".join(s.name for s in plan.async_subscribers)
            call, hint = SYNC_CALLS[sync]
            raise AsyncHandlerError(
                f"session {session_id!r}: {name!r} has async subscribers ({names}), which "
                f"{call} cannot await; {hint}"
            )


_KEPT = (
    "the session is closed, and 'await session.aclose()' publishes its end (in async code, "
    "use 'async with' and aclose())"
)

#: What a sync call of a session says when async subscribers of the start or end it
#: would publish refuse it: key -> (the call, what happened and what to use instead).
SYNC_CALLS = {
    "dispatch": (
        "session.dispatch()",
        "nothing was published and the session did not start: "
        "use 'await session.dispatch_async(command)'",
    ),
    "emit": (
        "session.emit()",
        "nothing was published and the session did not start: "
        "use 'await session.emit_async(event)'",
    ),
    "with": (
        "a plain 'with' block",
        "nothing was published and the session was not entered: use 'async with'",
    ),
    "close": (
        "close()",
        "nothing was published and the session is still open: use 'await session.aclose()'",
    ),
    # (a block that ended, or a close() racing with a new async subscriber: kept)
    "exit": ("a plain 'with' block", _KEPT),
    "ended": ("close()", _KEPT),
}


def end_events(started: bool, error: BaseException | None) -> list[Event]:
    """What a closing session publishes: its ``SessionStarted`` if it never started,
    then its ``SessionEnded`` describing ``error`` (what left its block, if anything)."""
    from .events import SessionEnded, SessionStarted

    events: list[Event] = [] if started else [SessionStarted()]
    # ``SessionEnded.error``: the exception's type and message ("ValueError: bad")
    described = (
        None if error is None else type_name(error.__class__) + (f": {error}" if str(error) else "")
    )
    events.append(SessionEnded(error=described))
    return events


def keep_body_error(body: BaseException, failure: Exception, session_id: str) -> None:
    """Publishing session ``session_id``'s end raised ``failure`` after its block raised
    ``body``: log ``failure``, and note it on ``body``, which is what propagates."""
    import logging  # only when something failed (kept off import time)

    logging.getLogger("llmgine.bus").error(
        "session %r ended with %s, and publishing its end failed",
        session_id,
        type_name(body.__class__),
        exc_info=failure,
    )
    body.add_note(
        f"(then publishing the end of session {session_id!r} failed: "
        f"{type_name(failure.__class__)}: {failure})"
    )
