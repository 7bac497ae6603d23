"""mypy accepts well-typed handlers and rejects ill-typed ones (tests/typecheck/sample_types.py).

The sample's ``# R:`` markers give the revealed types mypy must report and its
``# E:`` markers the error codes; every other line must be clean.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api", reason="mypy is in the dev extra: pip install -e '.[dev]'")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = Path(__file__).resolve().parent / "typecheck" / "sample_types.py"
LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): (?P<kind>error|note): (?P<text>.*)$")


def _expected() -> tuple[dict[int, str], dict[int, set[str]]]:
    reveals: dict[int, str] = {}
    errors: dict[int, set[str]] = {}
    for number, line in enumerate(SAMPLE.read_text().splitlines(), start=1):
        if "# R: " in line:
            reveals[number] = line.split("# R: ")[1].strip()
        if "# E: " in line:
            errors[number] = {c.strip() for c in line.split("# E: ")[1].split(",")}
    return reveals, errors


def test_mypy_reveals_result_types_and_rejects_mismatched_handlers() -> None:
    stdout, stderr, _ = api.run(
        [
            "--strict",
            "--show-error-codes",
            "--no-error-summary",
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            str(SAMPLE),
        ]
    )
    assert not stderr, stderr
    reveals: dict[int, str] = {}
    errors: dict[int, set[str]] = {}
    for line in stdout.splitlines():
        match = LINE.match(line)
        if match is None:
            continue
        number = int(match["line"])
        text = match["text"]
        if match["kind"] == "note" and text.startswith("Revealed type is "):
            revealed = text.removeprefix("Revealed type is ").strip('"')
            reveals[number] = revealed
        elif match["kind"] == "error":
            code = re.search(r"\[([a-z-]+)\]$", text)
            errors.setdefault(number, set()).add(code[1] if code else text)
    want_reveals, want_errors = _expected()
    assert reveals == want_reveals, stdout
    assert errors == want_errors, stdout
