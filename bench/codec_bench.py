#!/usr/bin/env python3
"""Decode speed (messages/s) of the Redis wire codec before and after issue 17, of the core's
``from_json`` and of pydantic v2's ``TypeAdapter``, on the same classes, in one run.

    python bench/codec_bench.py [--baseline REV_OR_PATH] [--python PY ...] [--rounds 200]
                                [--repeat 2] [--quick] [--json PATH]

For each interpreter (``--python``, repeatable; default: the one running this script) it
runs two worker processes of this script:

* ``before``: the wire decoder of the baseline (a git revision, checked out with
  ``git worktree add`` into a temporary directory and removed afterwards, or the path of
  a checkout), imported through ``PYTHONPATH`` ahead of the installed core and plugin;
* ``after``: the wire decoder of this checkout, ``from_json`` from a parsed dict and from
  a JSON string, and pydantic's ``TypeAdapter(cls).validate_python`` / ``validate_json``
  (skipped, and said so, where pydantic is not installed: ``pip install '.[bench]'``).

Each decodes the same bytes: a wire format 1 entry (``decode(raw, "event", limit)``,
JSON parsing included) or its ``fields`` object, for three classes:

* ``small``: a ``@dataclass`` event with 3 ``str`` fields;
* ``medium``: a ``@dataclass`` event with a list of 5 dataclass items (str, int, float),
  a ``dict[str, str]``, a ``datetime`` and an optional ``str``;
* ``medium_attrs``: the same as attrs classes; pydantic does not take attrs classes, so
  its columns there are those of ``medium`` (the equivalent dataclasses) again.

pydantic runs in its default (lax) mode: its strict mode refuses an ISO string for a
``datetime`` in ``validate_python``. A figure is the best round's calls per second, of
``--rounds`` rounds of ~5 ms (``--seconds``) in each of ``--repeat`` pairs of workers run
alternately: short rounds, so that on a busy machine some run undisturbed (``--quick``:
10 rounds, 1 pair).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
from llmgine.messages.events import Event

ROOT = Path(__file__).resolve().parents[1]
#: main before the codec used the core's conversion (issue 17)
BASELINE = "38222d2"
LIMIT = 1 << 20
CASES = ("small", "medium", "medium_attrs")
COLUMNS = (
    ("before", "wire before"),
    ("after", "wire after"),
    ("from_json_dict", "from_json(dict)"),
    ("from_json_str", "from_json(str)"),
    ("pydantic_python", "pydantic validate_python"),
    ("pydantic_json", "pydantic validate_json"),
)


@dataclasses.dataclass
class Small(Event):
    a: str
    b: str
    c: str


@dataclasses.dataclass
class Line:
    sku: str
    qty: int
    price: float


@dataclasses.dataclass
class Medium(Event):
    order_id: str
    lines: list[Line]
    attributes: dict[str, str]
    placed_at: datetime
    note: str | None = None


@attrs.define
class LineA:
    sku: str
    qty: int
    price: float


@attrs.define
class MediumAttrs(Event):
    order_id: str
    lines: list[LineA]
    attributes: dict[str, str]
    placed_at: datetime
    note: str | None = None


CLASSES: dict[str, type] = {"small": Small, "medium": Medium, "medium_attrs": MediumAttrs}
#: what pydantic validates for each case (attrs classes: the equivalent dataclass)
PYDANTIC_TWIN: dict[str, type] = {"small": Small, "medium": Medium, "medium_attrs": Medium}

FIELDS: dict[str, dict[str, Any]] = {
    "small": {"a": "alpha", "b": "bravo", "c": "charlie"},
    "medium": {
        "order_id": "o-1234",
        "lines": [{"sku": f"sku-{i}", "qty": i + 1, "price": 9.5 + i} for i in range(5)],
        "attributes": {"channel": "web", "region": "eu", "tier": "gold"},
        "placed_at": "2026-11-24T02:00:00.123456+00:00",
        "note": None,
    },
}
FIELDS["medium_attrs"] = FIELDS["medium"]


def entry(case: str) -> bytes:
    """The wire format 1 entry (the ``m`` field) of the case's event."""
    doc = {
        "v": 1,
        "kind": "event",
        "type": f"bench.codec.{case}",
        "id": "bench-1",
        "ts": "2026-11-24T02:00:00.123456+00:00",
        "correlation_id": "bench-1",
        "causation_id": None,
        "session_id": None,
        "fields": FIELDS[case],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


# Worker ---------------------------------------------------------------------------------


def rate(call: Callable[[], object], seconds: float, rounds: int) -> float:
    """Calls per second of ``call()`` in the best of ``rounds`` rounds of about ``seconds``."""
    loops = 1
    while True:  # calibrate: a round of ``loops`` calls takes ``seconds``
        start = time.perf_counter()
        for _ in range(loops):
            call()
        took = time.perf_counter() - start
        if took >= seconds / 4:
            loops = max(1, int(loops * seconds / took))
            break
        loops *= 4
    per_call = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(loops):
            call()
        per_call.append((time.perf_counter() - start) / loops)
    return 1 / min(per_call)


def worker(which: str, seconds: float, rounds: int) -> dict[str, Any]:
    """The figures of one side (``before``: the wire decoder only) in this interpreter."""
    from llmgine.plugins import get_message_catalog
    from llmgine_redis._wire import decode

    catalog = get_message_catalog()
    for case, cls in CLASSES.items():
        catalog.register(cls, f"bench.codec.{case}", source="bench")
    out: dict[str, Any] = {"python": sys.version.split()[0], "figures": {}, "notes": []}
    for case, cls in CLASSES.items():
        raw = entry(case)
        decoded, _ = decode(raw, "event", LIMIT)
        assert type(decoded) is cls, decoded
        assert decoded.event_id == "bench-1", decoded
        figures = {which: rate(functools.partial(decode, raw, "event", LIMIT), seconds, rounds)}
        if which == "after":
            figures.update(after_only(case, cls, seconds, rounds, out["notes"]))
        out["figures"][case] = figures
    return out


def after_only(
    case: str, cls: type, seconds: float, rounds: int, notes: list[str]
) -> dict[str, float]:
    from llmgine.messages.conversion import from_json

    fields = FIELDS[case]
    text = json.dumps(fields)
    figures = {
        "from_json_dict": rate(lambda: from_json(cls, fields, extra="ignore"), seconds, rounds),
        "from_json_str": rate(lambda: from_json(cls, text, extra="ignore"), seconds, rounds),
    }
    try:
        from pydantic import TypeAdapter
    except ImportError:
        if not notes:
            notes.append("pydantic is not installed here: pip install '.[bench]'")
        return figures
    adapter: Any = TypeAdapter(PYDANTIC_TWIN[case])
    assert adapter.validate_python(fields) == adapter.validate_json(text)
    figures["pydantic_python"] = rate(lambda: adapter.validate_python(fields), seconds, rounds)
    figures["pydantic_json"] = rate(lambda: adapter.validate_json(text), seconds, rounds)
    return figures


# Orchestration --------------------------------------------------------------------------


@contextlib.contextmanager
def baseline_tree(baseline: str) -> Iterator[Path]:
    """The baseline checkout: ``baseline`` itself if it is a directory, else a temporary
    ``git worktree`` of that revision (removed afterwards)."""
    if Path(baseline).is_dir():
        yield Path(baseline).resolve()
        return
    with tempfile.TemporaryDirectory(prefix="codec-baseline-") as scratch:
        tree = Path(scratch) / "tree"
        git = ["git", "-C", str(ROOT)]
        added = subprocess.run(
            [*git, "worktree", "add", "--detach", "--quiet", str(tree), baseline],
            capture_output=True,
            text=True,
            check=False,
        )
        if added.returncode:
            sys.exit(
                f"cannot check out the baseline {baseline!r} with git worktree: "
                f"{added.stderr.strip()}; give a revision or the path of a checkout"
            )
        try:
            yield tree
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=False)


def run_worker(python: str, which: str, tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ)
    # The tree's core and plugin ahead of the installed (editable) ones.
    paths = [str(tree / "core"), str(tree / "plugins" / "llmgine-redis")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    argv = [python, str(Path(__file__).resolve()), "--worker", which]
    argv += ["--seconds", str(args.seconds), "--rounds", str(args.rounds)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"the {which!r} worker on {python} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with baseline_tree(args.baseline) as old:
        for python in args.python or [sys.executable]:
            before = run_worker(python, "before", old, args)
            after = run_worker(python, "after", ROOT, args)
            figures = {
                case: {**before["figures"][case], **after["figures"][case]} for case in CASES
            }
            results.append({"python": after["python"], "figures": figures, "notes": after["notes"]})
    return results


def table(results: list[dict[str, Any]], baseline: str) -> str:
    lines = [
        f"decode, messages/s (best round); before = {baseline}, after = this checkout",
        "",
        "| python | class | " + " | ".join(label for _, label in COLUMNS) + " | after/before |",
        "|---|---|" + "---:|" * (len(COLUMNS) + 1),
    ]
    for result in results:
        for case in CASES:
            row = result["figures"][case]
            cells = [f"{row[key]:,.0f}" if key in row else "-" for key, _ in COLUMNS]
            ratio = f"{row['after'] / row['before']:.2f}x"
            lines.append(f"| {result['python']} | {case} | {' | '.join(cells)} | {ratio} |")
        lines += [f"note ({result['python']}): {note}" for note in result["notes"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=BASELINE, help="git revision or checkout path")
    parser.add_argument("--python", action="append", help="interpreter to run (repeatable)")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2, help="pairs of workers per python")
    parser.add_argument("--seconds", type=float, default=0.005, help="length of a round")
    parser.add_argument("--quick", action="store_true", help="10 rounds, 1 pair of workers")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--worker", choices=("before", "after"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.repeat = 10, 1
    if args.worker:
        print(json.dumps(worker(args.worker, args.seconds, args.rounds)))
        return 0
    results = measure(args)
    print(table(results, args.baseline))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"baseline": args.baseline, "results": results}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
