"""Timing one statement many times, the way ``timeit`` does, sync or async.

A case is a statement (source text) and the names it uses. The statement is
compiled into a function whose loop runs it ``n`` times between two
``perf_counter_ns`` readings, with every name it uses bound as a local, so a
case pays for what it measures and a loop step (a few ns), nothing else. Async
statements run in a coroutine on one event loop, timed inside the coroutine.

``gc`` is disabled while a round runs. The reported figure is the median over
rounds of (round time / n).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import statistics
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Timed", "Timer"]

_TEMPLATE = """
{kw}def inner(_n, _timer, _env):
{bind}
    _it = _repeat(None, _n)
    _t0 = _timer()
    for _ in _it:
{stmt}
    return _timer() - _t0
"""


@dataclass
class Timed:
    """A statement ready to be timed, with its calibrated loop count and round results."""

    stmt: str
    env: dict[str, Any]
    is_async: bool = False
    n: int = 1
    samples: list[float] = field(default_factory=list)
    inner: Callable[..., Any] | None = None

    def compile(self) -> None:
        """Build the timing function (names in ``env`` become locals)."""
        bind = "\n".join(f"    {name} = _env[{name!r}]" for name in self.env) or "    pass"
        source = _TEMPLATE.format(
            kw="async " if self.is_async else "",
            bind=bind,
            stmt=textwrap.indent(textwrap.dedent(self.stmt).strip(), " " * 8),
        )
        namespace: dict[str, Any] = {"_repeat": itertools.repeat}
        exec(compile(source, f"<bench {self.stmt[:40]!r}>", "exec"), namespace)
        self.inner = namespace["inner"]

    @property
    def median(self) -> float:
        """Median ns per operation over the rounds run so far."""
        return statistics.median(self.samples)


class Timer:
    """Calibrates and runs :class:`Timed` statements; owns the event loop for async ones."""

    def __init__(self, round_ns: int) -> None:
        self.round_ns = round_ns
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        """Close the event loop."""
        self.loop.close()

    def _once(self, timed: Timed, n: int) -> int:
        assert timed.inner is not None
        enabled = gc.isenabled()
        gc.disable()
        try:
            if timed.is_async:
                return int(
                    self.loop.run_until_complete(timed.inner(n, time.perf_counter_ns, timed.env))
                )
            return int(timed.inner(n, time.perf_counter_ns, timed.env))
        finally:
            if enabled:
                gc.enable()

    def calibrate(self, timed: Timed) -> None:
        """Pick the loop count so one round takes about ``round_ns`` (and warm up)."""
        timed.compile()
        self._once(timed, 1)  # the first call fills caches (plans, handler resolution)
        n = 1
        while True:
            took = self._once(timed, n)
            if took >= self.round_ns // 4 or n >= 10_000_000:
                break
            n *= 10 if took < self.round_ns // 100 else 2
        timed.n = max(1, int(n * self.round_ns / max(took, 1)))

    def round(self, timed: Timed) -> None:
        """Run one round and record its ns/op."""
        timed.samples.append(self._once(timed, timed.n) / timed.n)
