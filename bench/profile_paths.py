#!/usr/bin/env python3
"""Where the time goes: a cProfile breakdown of ``dispatch``, ``emit`` to 10 and the LLM turn.

    python bench/profile_paths.py [--top 12] [--n 200000]

Prints, per path, the functions with the most own time (``tottime``) as a share of the
whole. cProfile's own overhead per call inflates small functions alike, so read the
shares, not the absolute times, and compare with the runner's ns/op.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import async_fns, sync_fns
from llmgine_cases import bench_bus, bench_types


def _dispatch(n: int) -> None:
    ping = bench_types()[0]
    bus = bench_bus()
    bus.register_command(ping, sync_fns(1)[0])
    command, dispatch = ping(1, 2, 3), bus.dispatch
    for _ in range(n):
        dispatch(command)


def _emit10(n: int) -> None:
    tick = bench_types()[2]
    bus = bench_bus()
    for fn in sync_fns(10):
        bus.subscribe_event("bench.tick.fast", fn)
    event, emit = tick(1, 2, 3), bus.emit
    for _ in range(n):
        emit(event)


def _emit_async10(n: int) -> None:
    tick = bench_types()[2]
    bus = bench_bus()
    for fn in async_fns(10):
        bus.subscribe_event("bench.tick.fast", fn)
    event, emit = tick(1, 2, 3), bus.emit_async

    async def run() -> None:
        for _ in range(n // 10):
            await emit(event)

    asyncio.run(run())


def _turns(n: int) -> None:
    import turns

    async def run() -> None:
        impl = await turns.ours("async")
        for i in range(max(1, n // 2000)):
            await impl.turn(i, False)

    asyncio.run(run())


PATHS = {
    "dispatch": _dispatch,
    "emit_exact_10": _emit10,
    "emit_async_10": _emit_async10,  # (n / 10 emits)
    "llm_turn_async": _turns,  # (n / 2000 turns)
}


def _owner(filename: str, name: str) -> str:
    """Who a function belongs to: llmgine, asyncio, another C built-in, the benchmark."""
    if "llmgine" in filename:
        return "llmgine"
    if "asyncio" in filename:
        return "asyncio"
    if filename == "~":  # C functions: contextvars, Task creation, dict.get, ...
        return "asyncio (C)" if "Task" in name or "Future" in name else "built-ins (C)"
    return "benchmark (subscribers, loop)"


def profile(path: str, n: int, top: int) -> str:
    PATHS[path](100)  # warm caches outside the profile
    profiler = cProfile.Profile()
    profiler.runcall(PATHS[path], n)
    stats = pstats.Stats(profiler)
    entries: Any = stats.stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in entries.values()) or 1.0
    rows = sorted(entries.items(), key=lambda item: -item[1][2])[:top]
    owners: dict[str, float] = {}
    for (filename, _, name), row in entries.items():
        owners[_owner(filename, name)] = owners.get(_owner(filename, name), 0.0) + row[2]
    split = ", ".join(
        f"{owner} {share / total:.0%}"
        for owner, share in sorted(owners.items(), key=lambda o: -o[1])
    )
    lines = [f"{path}: {n:,} operations; own time by owner: {split}; by function:"]
    for (filename, line, name), (_, calls, tottime, _, _) in rows:
        where = f"{Path(filename).name}:{line}" if line else filename
        lines.append(f"  {tottime / total:6.1%}  {calls:>9,}  {name}  ({where})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--paths", default=",".join(PATHS))
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}")
    for path in args.paths.split(","):
        print(profile(path, args.n, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
