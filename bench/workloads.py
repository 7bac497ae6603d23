"""What the runner measures, part 4: the workloads of issue 18, each in processes of its own.

* the LLM turn (``turns.py``): turns/s for llmgine and its peers, rounds interleaved
  across implementations and processes; upstream LLMgine 0.0.1 runs in a virtual
  environment of its own (``.bench-envs/``, built once with pip; it ships the
  ``llmgine`` import package too, so it cannot share ours);
* tail latency (``turns.py --latency``) under 1, 100 and 1,000 concurrent turns;
* memory (``memory.py``) in a fresh process;
* Redis (``redis_bench.py``) when a Redis answers on 127.0.0.1:6379.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cases import Target

__all__ = ["Settings", "evaluate_turns", "measure_workloads", "workload_tables"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ENVS = ROOT / ".bench-envs"
UPSTREAM = "llmgine==0.0.1"
# what upstream's `llmgine.bus` imports beyond the standard library (its own
# dependencies list pulls in ~30 packages: litellm, discord, pandas, ...)
UPSTREAM_BUS_DEPS = ("python-dotenv", "sqlalchemy")

OURS = ("ours_async", "ours_sync", "ours_background", "ours_thread")
LOCAL_PEERS = (
    "blinker_bare",
    "blinker_msg",
    "pyee_async_bare",
    "pyee_async_msg",
    "pyee_sync_bare",
    "pyee_sync_msg",
    "bubus",
)
UPSTREAM_IMPLS = ("upstream_nowait", "upstream_wait")
LABELS = {
    "ours_async": "llmgine: async subscribers (emit_async, a task each)",
    "ours_sync": "llmgine: plain subscribers (emit)",
    "ours_background": "llmgine: async background subscribers (emit; a task per event)",
    "ours_thread": "llmgine: plain background subscribers (emit; a thread each)",
    "upstream_nowait": "upstream LLMgine 0.0.1, publish(await_processing=False)",
    "upstream_wait": "upstream LLMgine 0.0.1, publish() (its default: waits for the batch)",
    "bubus": "bubus (pydantic events, awaited)",
    "pyee_async_bare": "pyee AsyncIOEventEmitter, async listeners, bare string",
    "pyee_async_msg": "pyee AsyncIOEventEmitter, async listeners, message object",
    "pyee_sync_bare": "pyee AsyncIOEventEmitter, plain listeners, bare string",
    "pyee_sync_msg": "pyee AsyncIOEventEmitter, plain listeners, message object",
    "blinker_bare": "blinker send_async, async receivers, bare string",
    "blinker_msg": "blinker send_async, async receivers, message object",
}
# issue 18's targets: (row, ref, limit, kind) on turns/s
TURN_TARGETS: tuple[tuple[str, Target], ...] = (
    ("ours_async", Target("upstream_best", 5, "faster")),
    *(("ours_async", Target(p, 1, "faster")) for p in ("bubus", "pyee_async_msg", "blinker_msg")),
    ("ours_sync", Target("pyee_sync_msg", 1, "faster")),
    ("ours_async", Target("blinker_bare", 1.5)),  # (time per turn: within 1.5x)
)
LEVELS = (1, 100, 1000)


@dataclass
class Settings:
    quick: bool = False
    rounds: int = 5
    envs: bool = True  # build/use peers' own environments (upstream LLMgine)
    sections: frozenset[str] = frozenset({"turns", "latency", "memory", "redis"})


def _interpreter_312() -> str | None:
    """A CPython >= 3.12 for upstream's environment: this one, else one on the machine."""
    if sys.version_info >= (3, 12):
        return sys.executable
    sys.path.insert(0, str(ROOT))
    try:
        from tools.pythons import discover
    finally:
        sys.path.remove(str(ROOT))
    found = discover(["3.13", "3.12"]).found
    for minor in ("3.13", "3.12"):
        if minor in found:
            return found[minor].executable
    return None


def upstream_python() -> tuple[str | None, str]:
    """The interpreter of upstream LLMgine's environment (built on first use), or None
    and why not."""
    base = _interpreter_312()
    if base is None:
        return None, "no CPython >= 3.12 found"
    probe = subprocess.run(
        [base, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    env_dir = ENVS / f"upstream-llmgine-0.0.1-py{probe.stdout.strip()}"
    python = env_dir / "bin" / "python"
    marker = env_dir / "ready"
    if marker.exists():
        return str(python), ""
    shutil.rmtree(env_dir, ignore_errors=True)
    print(f"building {env_dir.relative_to(ROOT)} (once) ...", flush=True)
    steps = [
        [base, "-m", "venv", str(env_dir)],
        [str(python), "-m", "pip", "install", "-q", "--no-deps", UPSTREAM],
        [str(python), "-m", "pip", "install", "-q", *UPSTREAM_BUS_DEPS],
        [str(python), "-c", "import llmgine.bus"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode:
            return None, f"building its environment failed: {' '.join(step)}: {done.stderr[-300:]}"
    marker.write_text(UPSTREAM + "\n")
    return str(python), ""


def _turns(python: str, impls: tuple[str, ...], *args: str, limit: float) -> dict[str, Any]:
    """Run ``turns.py`` in ``python`` (isolated, from a neutral directory, so that this
    checkout's ``llmgine`` does not shadow upstream's); killed after ``limit`` s."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    try:
        done = subprocess.run(
            [python, "-I", str(HERE / "turns.py"), "--impls", ",".join(impls), *args],
            capture_output=True,
            text=True,
            cwd=ENVS if ENVS.is_dir() else HERE,
            env=env,
            timeout=limit,
        )
    except subprocess.TimeoutExpired:
        return {"errors": dict.fromkeys(impls, f"hung (killed after {limit:g} s)")}
    if done.returncode:
        return {"errors": {i: done.stderr.strip()[-500:] for i in impls}}
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _groups(settings: Settings, skipped: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    groups = [(sys.executable, OURS + LOCAL_PEERS)]
    if not settings.envs:
        skipped.extend(f"{i} (--no-envs)" for i in UPSTREAM_IMPLS)
        return groups
    python, why = upstream_python()
    if python is None:
        skipped.extend(f"{i} ({why})" for i in UPSTREAM_IMPLS)
    else:
        groups.append((python, UPSTREAM_IMPLS))
    return groups


def measure_turns(settings: Settings, skipped: list[str]) -> dict[str, Any]:
    """Throughput rounds (one process per group and round, alternating) and latency."""
    ENVS.mkdir(exist_ok=True)
    groups = _groups(settings, skipped)
    round_s = "0.02" if settings.quick else "0.3"
    per_turn: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    out: dict[str, Any] = {"throughput": {}, "latency": {}, "errors": errors}
    if "turns" in settings.sections:
        for _ in range(settings.rounds):
            for python, impls in groups:
                got = _turns(python, impls, "--rounds", "1", "--round-s", round_s, limit=300)
                errors.update(got.get("errors", {}))
                for name, row in got.get("throughput", {}).items():
                    per_turn.setdefault(name, []).extend(row["ns_per_turn"])
        for name, samples in per_turn.items():
            median = statistics.median(samples)
            out["throughput"][name] = {
                "label": LABELS[name],
                "turns_per_s": 1e9 / median,
                "turns_per_s_best": 1e9 / min(samples),
                "deliveries_per_s": 151 * 1e9 / median,
                "rounds": len(samples),
            }
    if "latency" in settings.sections:
        levels = "1,100" if settings.quick else ",".join(map(str, LEVELS))
        budget = "5" if settings.quick else "60"
        fewest = "5" if settings.quick else "20"  # turns per run, at least
        for python, impls in groups:
            for impl in impls:  # a process each: a peer that hangs is killed alone
                got = _turns(
                    python,
                    (impl,),
                    *("--rounds", "0", "--latency", levels, "--budget-s", budget),
                    *("--min-turns", fewest),
                    limit=3 * float(budget) + 60,
                )
                errors.update(got.get("errors", {}))
                out["latency"].update(got.get("latency", {}))
    return out


def evaluate_turns(throughput: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 18's LLM-turn targets, met or not (None: a side was not measured)."""
    rate = {name: row["turns_per_s"] for name, row in throughput.items()}
    upstream = [rate[i] for i in UPSTREAM_IMPLS if i in rate]
    if upstream:
        rate["upstream_best"] = max(upstream)
    results = []
    for row, target in TURN_TARGETS:
        if row in rate and target.ref in rate:
            # turns/s: bigger is better, so the "time" of a row is 1 / rate
            ratio = target.ratio(1 / rate[row], 1 / rate[target.ref])
            met: bool | None = target.met(1 / rate[row], 1 / rate[target.ref])
        else:
            ratio, met = None, None
        results.append({"row": row, "target": target.describe(), "ratio": ratio, "met": met})
    return results


def measure_memory(settings: Settings) -> dict[str, Any]:
    args = ["--n", "1000", "--events", "100000"] if settings.quick else []
    done = subprocess.run(
        [sys.executable, str(HERE / "memory.py"), *args], capture_output=True, text=True
    )
    if done.returncode:
        return {"error": done.stderr.strip()[-500:]}
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _redis_up(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def measure_redis(settings: Settings) -> dict[str, Any]:
    if not _redis_up():
        return {"skipped": "no Redis answering on 127.0.0.1:6379"}
    args = ["--events", "2000", "--repeat", "1"] if settings.quick else ["--repeat", "3"]
    done = subprocess.run(
        [sys.executable, str(HERE / "redis_bench.py"), *args, "--json"],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        return {"error": done.stderr.strip()[-500:]}
    lines = done.stdout.strip().splitlines()
    result: dict[str, Any] = json.loads(lines[-1])
    result["notes"] = lines[:-1]
    median = result["median"]
    result["targets"] = [
        {
            "target": label,
            "ratio": median["llmgine"] / median[ref] if ref in median else None,
            "met": median["llmgine"] / median[ref] >= factor if ref in median else None,
        }
        for ref, factor, label in (
            ("raw", 0.6, ">= 0.6x raw redis-py"),
            ("faststream", 8.0, ">= 8x FastStream per-message"),
            ("faststream-batch", 1.0, ">= FastStream batch"),
        )
        if "llmgine" in median
    ]
    return result


def measure_workloads(settings: Settings, skipped: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if settings.sections & {"turns", "latency"}:
        out["turns"] = measure_turns(settings, skipped)
        out["turns"]["targets"] = evaluate_turns(out["turns"]["throughput"])
    if "memory" in settings.sections:
        out["memory"] = measure_memory(settings)
    if "redis" in settings.sections:
        out["redis"] = measure_redis(settings)
    return out


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT MET", None: "n/a"}[met]


def workload_tables(found: dict[str, Any]) -> str:
    """The workloads as Markdown tables (printed, and written with ``--markdown``)."""
    lines: list[str] = []
    turns = found.get("turns", {})
    if turns.get("throughput"):
        lines += [
            "| LLM turn (50 tokens x 3 subscribers + 1) | turns/s | best | deliveries/s |",
            "|---|---:|---:|---:|",
        ]
        for name, row in sorted(turns["throughput"].items(), key=lambda r: -r[1]["turns_per_s"]):
            lines.append(
                f"| `{name}`: {row['label']} | {row['turns_per_s']:,.0f} | "
                f"{row['turns_per_s_best']:,.0f} | {row['deliveries_per_s']:,.0f} |"
            )
        lines.append("")
        for t in turns.get("targets", []):
            ratio = "" if t["ratio"] is None else f" (is {t['ratio']:.2f})"
            lines.append(f"- `{t['row']}` {t['target']}{ratio}: {_verdict(t['met'])}")
        lines.append("")
    if turns.get("latency"):
        lines += [
            "| publish-to-delivery, µs | concurrent turns | p50 | p99 | p99.9 | turns/s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, levels in turns["latency"].items():
            for level, row in levels.items():
                if "skipped" in row:
                    lines.append(f"| `{name}` | {level} | {row['skipped']} | | | |")
                    continue
                lines.append(
                    f"| `{name}` | {level} | {row['p50_us']:,.1f} | {row['p99_us']:,.1f} | "
                    f"{row['p999_us']:,.1f} | {row['turns_per_s']:,.0f} |"
                )
        lines.append("")
    for name, text in turns.get("errors", {}).items():
        lines.append(f"- `{name}` failed: {text}")
    memory = found.get("memory")
    if memory and "error" not in memory:
        rss = memory["rss"]
        flat = rss["growth"] < 0.05
        lines += [
            "| memory | bytes |",
            "|---|---:|",
            f"| per subscription | {memory['bytes_per_subscription']:,.0f} |",
            f"| per open session | {memory['bytes_per_session']:,.0f} |",
            f"| per queued background event | {memory['bytes_per_background_event']:,.0f} |",
            "",
            f"RSS over {rss['events']:,} events (dispatch + emit): "
            f"{rss['rss_after_warmup'] / 2**20:,.1f} MiB after warm-up, "
            f"{rss['rss_end'] / 2**20:,.1f} MiB at the end, growth {rss['growth']:+.1%} "
            f"(target < 5%: {_verdict(flat)})",
            "",
        ]
    elif memory:
        lines.append(f"- memory failed: {memory['error']}")
    redis = found.get("redis")
    if redis and "median" in redis:
        lines += [
            f"Redis Streams end to end, {redis['events']:,} events, median events/s: "
            + ", ".join(f"{k} {v:,.0f}" for k, v in redis["median"].items()),
            "",
        ]
        median = redis["median"]
        if "llmgine-w1" in median and "llmgine-w2" in median:
            lines += [
                f"- 1 -> 2 worker processes on the event stream: {median['llmgine-w1']:,.0f} -> "
                f"{median['llmgine-w2']:,.0f} events/s "
                f"({median['llmgine-w2'] / median['llmgine-w1']:.2f}x)",
            ]
        for t in redis["targets"]:
            ratio = "" if t["ratio"] is None else f" (is {t['ratio']:.2f})"
            lines.append(f"- llmgine {t['target']}{ratio}: {_verdict(t['met'])}")
        lines += [f"- {note}" for note in redis.get("notes", [])]
    elif redis:
        lines.append(f"- redis: {redis.get('skipped') or redis.get('error')}")
    return "\n".join(lines) + "\n"
