#!/usr/bin/env python3
"""The Redis transport under the faults of real deployments (issue 14): one row per fault.

    python3 dev.py faults [--only 1,3] [--quick] [--json] [--keep]
    python bench/redis_faults.py ...      (in an environment with llmgine and llmgine-redis)

Runs faults 1-11 of issue 14 at the issue's scale (``--quick``: smaller, the whole
matrix in about two minutes; the default takes about ten) against throwaway
``redis-server``s on free loopback ports, never the Redis on 6379, and prints a
Markdown table, then what each case saw (``--json``: the rows as JSON). Faults 12
(secrets in printed URLs, file modes) and 13 (a traceback of ``llmgine workflows``)
lose or duplicate no message, so they are not here; their tests cover them.

Each case runs in a process of its own, in a new session, with a timeout: a case that
hangs becomes a row "hung after Ns (while ...)" and its processes (workers, servers)
are killed with its process group. Workers are subprocesses running
``RedisTransport.run_worker`` (what ``llmgine worker`` runs) with a subscriber that
records every run on a second throwaway server; a worker that dies is restarted half
a second later, as a supervisor would. The columns:

* sent: events and remote commands the case published (raw poison entries included);
* accepted: those whose publish (or remote call) returned without error;
* raised: publish attempts that raised, counted per event (a retried batch counts again);
* delivered: distinct events whose subscriber (or command handler) completed;
* lost: accepted, yet neither delivered nor dead-lettered by the end;
* duplicated: runs beyond the first of an event (the same logical event: a retry that
  re-creates it with a new id counts too);
* dead-lettered: distinct messages in the dead-letter streams;
* recover: from the end of the fault to the last delivery;
* verdict: ``ok``, or ``BROKEN`` with the promises broken. The guarantee: lost must be
  0 wherever Redis kept what it acknowledged, dead letters only for what no subscriber
  could take, duplicates only where at-least-once allows them (after a crash), errors
  only when Redis failed and then true, and no hang.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from redis_fault_kit import CASES, Case, Scene
from redis_fault_report import Row, as_json, markdown
from redis_fault_worker import worker_main

CASE_MODULES = ("redis_fault_outages", "redis_fault_load")


def load_cases() -> dict[int, Case]:
    """Every case, by fault number (importing the case modules registers them)."""
    for name in CASE_MODULES:
        importlib.import_module(name)
    return dict(sorted(CASES.items()))


def case_main(number: int, tmp: Path, quick: bool) -> None:
    """In the case's own process: run it, print its row as JSON, exit at once.

    ``os._exit``: a thread left hanging by the fault (a publisher stuck for ever)
    must not keep the process alive.
    """
    case = load_cases()[number]
    started = time.monotonic()
    scene = None
    try:
        scene = Scene(tmp, quick, tmp / "progress")
        try:
            case.run(scene)
        except Exception as exc:
            scene.problems.append(f"the case failed: {type(exc).__name__}: {exc}")
        scene.phase("counting")
        row = scene.row(number, case.title)
    except Exception as exc:
        row = Row(number, case.title, problems=[f"the case failed: {type(exc).__name__}: {exc}"])
    finally:
        if scene is not None:
            scene.close()
    row.seconds = time.monotonic() - started
    print(json.dumps(row.as_dict()), flush=True)
    os._exit(0)


def run_case(case: Case, quick: bool, keep: bool) -> Row:
    """Run ``case`` in a process (and session) of its own; a hang becomes the row's verdict."""
    tmp = Path(tempfile.mkdtemp(prefix=f"llmgine-fault{case.number}-"))
    timeout = case.quick_timeout if quick else case.timeout
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGINE_")}
    args = [sys.executable, __file__, "_case", str(case.number), str(tmp)]
    started = time.monotonic()
    with (tmp / "case.log").open("wb") as log:
        proc = subprocess.Popen(
            [*args, *(["--quick"] if quick else [])],
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            start_new_session=True,  # its workers and servers are in its process group
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            out = b""
        finally:
            # Whatever it left (a case killed on timeout leaves everything), by group id.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    try:
        row = Row.from_dict(json.loads(out.decode().strip().splitlines()[-1]))
    except (ValueError, IndexError):
        progress = tmp / "progress"
        phase = progress.read_text() if progress.exists() else "starting"
        if time.monotonic() - started >= timeout:
            problem = f"hung after {timeout:.0f}s (while {phase})"
        else:
            problem = f"the case process died (rc={proc.returncode}) while {phase}"
        row = Row(case.number, case.title, problems=[problem])
        row.seconds = time.monotonic() - started
        keep = True
    if keep:
        row.notes.append(f"logs: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return row


def main(argv: list[str]) -> int:
    """Run the matrix (or, as ``_case``/``_worker``, one case or one worker)."""
    if argv[:1] == ["_worker"]:
        worker_main(json.loads(argv[1]))
        return 0
    if argv[:1] == ["_case"]:
        case_main(int(argv[1]), Path(argv[2]), "--quick" in argv)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", help="comma-separated fault numbers, e.g. 1,3")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about 2 minutes)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--keep", action="store_true", help="keep every case's logs and data")
    args = parser.parse_args(argv)
    if shutil.which("redis-server") is None:
        print("redis-server is not installed (the faults need throwaway servers)", file=sys.stderr)
        return 2
    cases = load_cases()
    wanted = list(cases)
    if args.only:
        try:
            wanted = [int(n) for n in args.only.split(",") if n.strip()]
        except ValueError:
            parser.error(f"--only takes fault numbers like 1,3, not {args.only!r}")
        unknown = [n for n in wanted if n not in cases]
        if unknown:
            parser.error(f"no case for fault(s) {unknown}; the cases are {list(cases)}")
    rows = []
    began = time.monotonic()
    for number in wanted:
        case = cases[number]
        print(f"fault {number}: {case.title} ...", end=" ", file=sys.stderr, flush=True)
        rows.append(run_case(case, args.quick, args.keep))
        print(f"{rows[-1].verdict} ({rows[-1].seconds:.0f}s)", file=sys.stderr, flush=True)
    if args.json:
        print(as_json(rows))
    else:
        mode = "quick" if args.quick else "full"
        print(f"Redis transport fault matrix ({mode}, {time.monotonic() - began:.0f}s)\n")
        print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
