#!/usr/bin/env python3
"""Issue 18's targets side by side for several runs (one per interpreter), as Markdown.

    python3 bench/summary.py bench/results/full-3.11.json bench/results/full-3.13.json

Reads the runner's ``--json`` files and prints: every target with its figure per run,
met or not; the LLM-turn, latency and memory tables with a column per run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

VERDICT = {True: "met", False: "**not met**", None: "n/a"}


def _python(run: dict[str, Any]) -> str:
    return str(run["python"].split()[0])


def targets(runs: list[dict[str, Any]]) -> list[str]:
    """One row per target: its figure and verdict in each run."""
    found: dict[str, list[str]] = {}
    for i, run in enumerate(runs):
        rows = [
            (f"`{r['name']}` {t['target']}", t["ratio"], t["met"])
            for r in run["results"]
            for t in r["targets"]
        ]
        work = run.get("workloads", {})
        rows += [
            (f"LLM turn: `{t['row']}` {t['target']}", t["ratio"], t["met"])
            for t in work.get("turns", {}).get("targets", [])
        ]
        rows += [
            (f"Redis: llmgine {t['target']}", t["ratio"], t["met"])
            for t in work.get("redis", {}).get("targets", [])
        ]
        rss = work.get("memory", {}).get("rss")
        if rss:
            rows.append(
                ("RSS growth over 1,000,000 events < 5%", rss["growth"], rss["growth"] < 0.05)
            )
        for name, ratio, met in rows:
            cells = found.setdefault(name, [""] * len(runs))
            figure = "" if ratio is None else f"{ratio:.2f} "
            cells[i] = f"{figure}{VERDICT[met]}"
    head = " | ".join(_python(r) for r in runs)
    lines = [f"| target | {head} |", "|---" + "|---" * len(runs) + "|"]
    lines += [f"| {name} | {' | '.join(cells)} |" for name, cells in found.items()]
    return lines


def turns(runs: list[dict[str, Any]]) -> list[str]:
    names: dict[str, str] = {}
    for run in runs:
        for name, row in run.get("workloads", {}).get("turns", {}).get("throughput", {}).items():
            names[name] = row["label"]
    head = " | ".join(f"{_python(r)} turns/s (best)" for r in runs)
    lines = [f"| LLM turn | {head} |", "|---" + "|---:" * len(runs) + "|"]
    for name, label in names.items():
        cells = []
        for run in runs:
            row = run.get("workloads", {}).get("turns", {}).get("throughput", {}).get(name)
            cells.append(
                "" if row is None else f"{row['turns_per_s']:,.0f} ({row['turns_per_s_best']:,.0f})"
            )
        lines.append(f"| `{name}`: {label} | {' | '.join(cells)} |")
    return lines


def latency(runs: list[dict[str, Any]]) -> list[str]:
    head = " | ".join(f"{_python(r)} p50 / p99 / p99.9" for r in runs)
    lines = [
        f"| publish-to-delivery, µs | turns | {head} |",
        "|---|---:" + "|---" * len(runs) + "|",
    ]
    keys: dict[tuple[str, str], None] = {}
    for run in runs:
        for name, levels in run.get("workloads", {}).get("turns", {}).get("latency", {}).items():
            for level in levels:
                keys[(name, level)] = None
    for name, level in keys:
        cells = []
        for run in runs:
            row = run.get("workloads", {}).get("turns", {}).get("latency", {}).get(name, {})
            row = row.get(level, {})
            if not row or "skipped" in row:
                cells.append(row.get("skipped", "") if row else "")
            else:
                cells.append(f"{row['p50_us']:,.0f} / {row['p99_us']:,.0f} / {row['p999_us']:,.0f}")
        if any("bare payload" in c for c in cells):
            continue
        lines.append(f"| `{name}` | {level} | {' | '.join(cells)} |")
    return lines


def memory(runs: list[dict[str, Any]]) -> list[str]:
    head = " | ".join(_python(r) for r in runs)
    lines = [f"| memory | {head} |", "|---" + "|---:" * len(runs) + "|"]
    for key, label in (
        ("bytes_per_subscription", "bytes per subscription"),
        ("bytes_per_session", "bytes per open session"),
        ("bytes_per_background_event", "bytes per queued background event"),
    ):
        cells = [f"{r.get('workloads', {}).get('memory', {}).get(key, 0):,.0f}" for r in runs]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    cells = []
    for run in runs:
        rss = run.get("workloads", {}).get("memory", {}).get("rss", {})
        cells.append(
            f"{rss['rss_after_warmup'] / 2**20:.1f} -> {rss['rss_end'] / 2**20:.1f} MiB "
            f"({rss['growth']:+.1%})"
            if rss
            else ""
        )
    lines.append(f"| RSS after warm-up -> after 1,000,000 more events | {' | '.join(cells)} |")
    return lines


def main(argv: list[str]) -> int:
    runs = [json.loads(Path(p).read_text()) for p in argv]
    if not runs:
        sys.exit(__doc__)
    for part in (targets, turns, latency, memory):
        print("\n".join(part(runs)))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
