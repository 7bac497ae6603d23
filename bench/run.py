#!/usr/bin/env python3
"""Measure llmgine side by side with plain-Python floors and peer libraries, in one process.

    python3 dev.py bench                  # full run (about 40 s)
    python3 dev.py bench --quick          # a few seconds, rough figures
    python3 dev.py bench --json out.json  # also write the results as JSON
    python3 dev.py bench --only emit      # only cases whose name contains "emit" (+ their refs)
    python3 dev.py bench --only dispatch,new_  # ... "dispatch" or "new_"
    python3 dev.py bench --sections turns,latency  # only some of the workloads
    python3 dev.py bench --no-envs        # skip peers that need an environment of their own

Every figure is a median over rounds of ns per operation (``gc`` off while timing,
rounds of all cases interleaved so machine noise hits them alike). Each llmgine row
shows its ratio to its floor (the plain-Python equivalent), each peer's time divided
by llmgine's (``pyee_10 2.6`` = llmgine is 2.6x faster than pyee with 10
listeners), and the targets of issues 4 and 18, met or not. Peers that are not
installed are skipped (``pip install -e .[bench]``; ``dev.py bench`` does it).

Then the workloads of issue 18 (``workloads.py``), each in processes of its own: the
LLM turn against upstream LLMgine (in ``.bench-envs/``), bubus, pyee and blinker;
publish-to-delivery latency under 1/100/1,000 concurrent turns; memory; Redis.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import FLOORS, PEERS, Case, Target, skip_reason
from llmgine_cases import LLMGINE
from session_cases import SESSIONS
from timing import Timed, Timer
from workloads import Settings, measure_workloads, workload_tables

WORKLOADS = ("turns", "latency", "memory", "redis")

STARTUP_ROWS: dict[str, tuple[str, str | None, tuple[Target, ...]]] = {
    "pass": ("python -I -c pass (subtracted from the rows below)", None, ()),
    "startup_deps": ("import attrs, pluggy (the dependencies)", None, ()),
    "startup_import": ("import llmgine", "startup_deps", ()),
    "startup_core": ("import llmgine.messages.handlers (whole core)", "startup_deps", ()),
    "startup_own": (
        "whole core minus its dependencies",
        "startup_deps",
        (Target("startup_deps", 0.3),),
    ),
    "register_0": ("import + register_handlers(), 0 plugins", "startup_deps", ()),
    "register_50": ("import + register_handlers(), 50 plugins", "register_0", ()),
    "cli_plugins_0": ("`llmgine plugins`, 0 plugins", "startup_deps", ()),
    "cli_plugins_50": ("`llmgine plugins`, 50 plugins", "cli_plugins_0", ()),
    "importtime_llmgine": ("-X importtime self time: llmgine.*", None, ()),
    "importtime_deps": ("-X importtime self time: attrs, pluggy", None, ()),
    "importtime_stdlib": ("-X importtime self time: stdlib", None, ()),
}


@dataclass
class Row:
    name: str
    group: str
    label: str
    ns: float
    floor: str | None = None
    peers: tuple[str, ...] = ()
    targets: tuple[Target, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def _wanted(cases: list[Case], only: str | None) -> list[Case]:
    if not only:
        return cases
    by_name = {c.name: c for c in cases}
    texts = only.split(",")
    keep = {c.name for c in cases if any(text in c.name for text in texts)}
    for name in list(keep):  # keep what the selected rows are compared with
        case = by_name[name]
        keep |= {n for n in (case.floor, *case.peers, *(t.ref for t in case.targets)) if n}
    return [c for c in cases if c.name in keep]


def measure_hot(
    cases: list[Case], rounds: int, round_ns: int, stat: str = "median"
) -> tuple[list[Row], list[str]]:
    timer = Timer(round_ns)
    skipped: list[str] = []
    timed: list[tuple[Case, Timed]] = []
    try:
        for case in cases:
            reason = skip_reason(case)
            if reason:
                skipped.append(f"{case.name} ({reason})")
                continue
            item = Timed(case.stmt, case.setup(), case.is_async)
            timer.calibrate(item)
            timed.append((case, item))
        for _ in range(rounds):
            for _, item in timed:
                timer.round(item)
    finally:
        timer.close()
    pick = min if stat == "min" else statistics.median
    rows = [
        Row(
            c.name,
            c.group,
            c.label,
            pick(t.samples),
            c.floor,
            c.peers,
            c.targets,
            {"n": t.n, "min": min(t.samples), "median": statistics.median(t.samples)},
        )
        for c, t in timed
    ]
    return rows, skipped


def measure_startup_rows(reps: int) -> list[Row]:
    from startup import measure_startup

    found = measure_startup(reps)
    rows = []
    for name, (label, floor, targets) in STARTUP_ROWS.items():
        if name in found:
            extra = {k: v for k, v in found[name].items() if k != "ns"}
            rows.append(Row(name, "startup", label, found[name]["ns"], floor, (), targets, extra))
    return rows


def _fmt_ns(ns: float) -> str:
    if abs(ns) >= 1_000_000:
        return f"{ns / 1e6:,.1f} ms"
    return f"{ns:,.0f}" if abs(ns) >= 100 else f"{ns:,.1f}"


def evaluate(rows: list[Row]) -> list[dict[str, Any]]:
    by_name = {r.name: r for r in rows}
    out = []
    for row in rows:
        entry: dict[str, Any] = {
            "name": row.name,
            "group": row.group,
            "label": row.label,
            "ns": row.ns,
            **row.extra,
        }
        if row.floor in by_name:
            entry["floor"] = row.floor
            entry["floor_ratio"] = row.ns / by_name[row.floor].ns
        entry["peers"] = {p: by_name[p].ns / row.ns for p in row.peers if p in by_name}
        entry["targets"] = [
            {
                "target": t.describe(),
                "ratio": t.ratio(row.ns, by_name[t.ref].ns),
                "met": t.met(row.ns, by_name[t.ref].ns),
            }
            if t.ref in by_name
            else {"target": t.describe(), "ratio": None, "met": None}
            for t in row.targets
        ]
        out.append(entry)
    return out


def _target_text(target: dict[str, Any] | None) -> str:
    if target is None:
        return ""
    if target["ratio"] is None:
        return str(target["target"])
    return f"{target['target']} (is {target['ratio']:.2f})"


def table(results: list[dict[str, Any]]) -> str:
    header = ("case", "what", "ns/op", "x floor", "peer time / llmgine", "target", "met")
    verdict = {True: "met", False: "NOT MET", None: "n/a"}
    lines = []
    for r in results:
        floor = f"{r['floor_ratio']:.2f} ({r['floor']})" if "floor" in r else ""
        peers = " ".join(f"{p} {v:.1f}" for p, v in r["peers"].items())
        targets = r["targets"] or [None]
        for i, t in enumerate(targets):
            first = i == 0
            lines.append(
                (
                    r["name"] if first else "",
                    r["label"] if first else "",
                    _fmt_ns(r["ns"]) if first else "",
                    floor if first else "",
                    peers if first else "",
                    _target_text(t),
                    "" if t is None else verdict[t["met"]],
                )
            )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    right = {2}
    fmt = lambda cells: "  ".join(  # noqa: E731
        c.rjust(w) if i in right else c.ljust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    ).rstrip()
    return "\n".join([fmt(header), fmt(tuple("-" * w for w in widths)), *map(fmt, lines)])


def markdown(results: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (for bench/README.md)."""
    lines = [
        "| case | what | ns/op | x floor | peers (their time / ours) | target | met |",
        "|---|---|---:|---|---|---|---|",
    ]
    verdict = {True: "met", False: "not met", None: "n/a"}
    for r in results:
        floor = f"{r['floor_ratio']:.2f} ({r['floor']})" if "floor" in r else ""
        peers = ", ".join(f"{p} {v:.2f}" for p, v in r["peers"].items())
        targets = "; ".join(_target_text(t) for t in r["targets"])
        met = "; ".join(verdict[t["met"]] for t in r["targets"])
        cells = (r["name"], r["label"], _fmt_ns(r["ns"]), floor, peers, targets, met)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _versions() -> dict[str, str]:
    found = {}
    for dist in ("llmgine", "attrs", "pluggy", "pyee", "blinker", "lato", "pydantic", "bubus"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[dist] = metadata.version(dist)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few short rounds (seconds)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="write the table as Markdown")
    parser.add_argument(
        "--only",
        metavar="TEXT",
        help="only cases whose name contains TEXT (or one of TEXT,TEXT...)",
    )
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up rows")
    parser.add_argument(
        "--sections",
        metavar="NAMES",
        help=f"workloads to run, of {','.join(WORKLOADS)} (default: all; none with --only)",
    )
    parser.add_argument(
        "--no-hot", action="store_true", help="skip the in-process rows (workloads only)"
    )
    parser.add_argument(
        "--no-envs",
        action="store_true",
        help="skip peers that need an environment of their own (upstream LLMgine)",
    )
    parser.add_argument("--rounds", type=int, help="rounds per case (default 11, quick 3)")
    parser.add_argument(
        "--stat",
        choices=("median", "min"),
        default="median",
        help="figure per case over its rounds (min is steadier on a busy machine)",
    )
    args = parser.parse_args(argv)
    if args.sections is None:
        sections = frozenset() if args.only else frozenset(WORKLOADS)
    else:
        sections = frozenset(filter(None, args.sections.split(",")))
        if sections - set(WORKLOADS):
            parser.error(f"--sections: unknown {','.join(sorted(sections - set(WORKLOADS)))}")

    rounds = args.rounds or (3 if args.quick else 11)
    round_ns = 2_000_000 if args.quick else 40_000_000
    started = time.perf_counter()
    cases = _wanted([*FLOORS, *PEERS, *LLMGINE, *SESSIONS], args.only)
    startup = not args.no_startup and (
        not args.only or any(text in "startup register" for text in args.only.split(","))
    )
    if args.no_hot:
        cases = []
    elif not cases and not startup:
        names = ", ".join(c.name for c in [*FLOORS, *PEERS, *LLMGINE, *SESSIONS])
        parser.error(f"--only {args.only}: no case name contains that (cases: {names})")
    rows, skipped = measure_hot(cases, rounds, round_ns, args.stat)
    if startup:
        rows += measure_startup_rows(3 if args.quick else 21)
    results = evaluate(rows)
    settings = Settings(
        quick=args.quick, rounds=1 if args.quick else 5, envs=not args.no_envs, sections=sections
    )
    workloads = measure_workloads(settings, skipped) if sections else {}

    command = "python3 dev.py bench " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"$ {command.strip()}")
    print(
        f"python {platform.python_version()} on {platform.machine()} {platform.system()}, "
        f"{rounds} rounds; {args.stat} ns/op; "
        "peer column: peer's time / llmgine's (>1: llmgine faster)"
    )
    print(table(results))
    if workloads:
        print()
        print(workload_tables(workloads))
    for name in skipped:
        print(f"skipped: {name}")
    checked = [t for r in results for t in r["targets"] if t["met"] is not None]
    checked += [
        t
        for t in (
            *workloads.get("turns", {}).get("targets", []),
            *workloads.get("redis", {}).get("targets", []),
        )
        if t["met"] is not None
    ]
    met = sum(t["met"] for t in checked)
    print(f"targets met: {met} of {len(checked)}; took {time.perf_counter() - started:.1f} s")

    if args.markdown:
        text = markdown(results)
        if workloads:
            text += "\n" + workload_tables(workloads)
        _write(args.markdown, text)
    if args.json:
        payload = {
            "command": command.strip(),
            "python": sys.version,
            "platform": platform.platform(),
            "versions": _versions(),
            "rounds": rounds,
            "stat": args.stat,
            "round_ns": round_ns,
            "skipped": skipped,
            "results": results,
            "workloads": workloads,
        }
        _write(args.json, json.dumps(payload, indent=2) + "\n")
    return 0


def _write(path: str, text: str) -> None:
    """Write an output file, making its directory (a long run must not end on a typo'd one)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
