"""Helpers for the background subscriber tests: gates, and waiting for a state to be reached."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from llmgine.messages import Event, Subscription

#: A hang guard, not a speed requirement: a state the test waits for must come eventually.
PATIENCE = 30.0


@dataclass
class Tick(Event):
    """A numbered event."""

    n: int


def until(condition: Callable[[], bool], what: str = "the condition") -> None:
    """Wait until ``condition()`` holds (fail, naming ``what``, if it never does)."""
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.001)


class Gate:
    """A subscriber that records what it got, and blocks while the gate is closed.

    ``started`` is set once it began handling its first event: from then on that event
    is off the queue, so the queue's free room is exactly ``max_pending``.
    """

    def __init__(self) -> None:
        self.open = threading.Event()
        self.started = threading.Event()
        self.got: list[int] = []
        self.threads: set[int] = set()

    def __call__(self, event: Tick) -> None:
        self.started.set()
        self.threads.add(threading.get_ident())
        assert self.open.wait(PATIENCE), "the test never opened the gate"
        self.got.append(event.n)


def worker_thread(sub: Subscription) -> threading.Thread:
    """The worker thread of background subscription ``sub`` (the last one it started)."""
    thread = sub.subscriber.background.thread  # type: ignore[union-attr]
    assert isinstance(thread, threading.Thread)
    return thread
