"""Who owns a run: which process, and which engine in it, may be driving it.

A run's ``owner`` column is ``host:pid/token``: the process, plus a token per
engine so that two engines of one process sharing a database (two buses) tell
their runs apart. Rows written before tokens existed, or by a bare
:class:`RunStore`, hold ``host:pid``: they are read the same way, and no engine
of this process claims to be driving them.
"""

from __future__ import annotations

import os
import socket
import threading

__all__ = [
    "engine_owner",
    "may_be_driving",
    "owned_elsewhere",
    "same_process",
    "start_driving",
    "stop_driving",
    "this_owner",
]


def this_owner() -> str:
    """``host:pid`` of this process: the owner of runs written by a bare :class:`RunStore`.

    An engine records ``host:pid/token`` instead (:func:`engine_owner`), so that two
    engines of one process sharing a database tell their runs apart.
    """
    return f"{socket.gethostname()}:{os.getpid()}"


def engine_owner(token: str) -> str:
    """The owner an engine records: this process's ``host:pid`` and the engine's ``token``.

    Computed per use, not once, so an engine used after ``fork()`` records its new pid.
    """
    return f"{this_owner()}/{token}"


#: (owner, run_id) of the runs the engines of this process are driving right now.
#: Within this process that is known exactly, where for another process only its
#: pid's liveness is: so a run of a stopped engine of this process is resumable
#: while its bus lives on, and one another engine is driving is not.
_driving: set[tuple[str, str]] = set()
_driving_lock = threading.Lock()


def start_driving(owner: str, run_id: str) -> bool:
    """Mark run ``run_id`` as driven by ``owner``; False if it already was.

    Called before the run's row names ``owner``, so that no other engine of this
    process ever sees that row while the run looks undriven.
    """
    with _driving_lock:
        if (owner, run_id) in _driving:
            return False
        _driving.add((owner, run_id))
        return True


def stop_driving(owner: str, run_id: str) -> None:
    """Undo :func:`start_driving` (after the run's last store write)."""
    with _driving_lock:
        _driving.discard((owner, run_id))


def same_process(owner: str) -> bool:
    """Whether ``owner`` names this process (with or without an engine token)."""
    return owner.partition("/")[0] == this_owner()


def may_be_driving(owner: str, run_id: str) -> bool:
    """Whether ``owner`` (``host:pid`` or ``host:pid/token``) may still be driving ``run_id``.

    In this process: whether one of its engines is driving it (a ``host:pid`` row
    with this pid was written by a bare store, or by a dead process whose pid was
    reused: no engine drives it). Another process of this host: whether it is
    alive. Another host: always, since that cannot be checked from here.
    """
    if same_process(owner):
        with _driving_lock:
            return (owner, run_id) in _driving
    host, _, pid = owner.partition("/")[0].rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    return True


def owned_elsewhere(run_id: str, owner: str) -> str:
    """Why ``owner`` keeps run ``run_id`` from being claimed."""
    if same_process(owner):
        return (
            f"run {run_id} is being driven by another workflows engine of this process "
            f"(owner {owner}); resume it once that run has stopped"
        )
    return (
        f"run {run_id} is owned by process {owner}, which may be alive; resume it "
        "after that process has exited (or, if it has, with "
        "'llmgine workflows resume --force RUN_ID')"
    )
