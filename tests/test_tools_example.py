"""examples/tools_example.py: a scripted model calls two commands as tools, one with bad
arguments, reads the error answer and retries; ``python3 dev.py example tools`` runs it."""

from __future__ import annotations

import subprocess
import sys

from tools.devenv import ROOT

EXAMPLE = ROOT / "examples" / "tools_example.py"


def test_the_model_recovers_from_the_error_answer() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr  # (the script asserts what it prints, too)
    lines = done.stdout.splitlines()
    bad = 'model called convert_currency({"amount": "ten", "source": "EUR", "target": "USD"})'
    good = 'model called convert_currency({"amount": 10, "source": "EUR", "target": "USD"})'
    # both tools asked for at once, the bad call answered with the field at fault, then the retry
    assert lines.index('model called look_up_weather({"city": "Paris"})') < lines.index(bad)
    answer = lines[lines.index(bad) + 1]
    assert answer.startswith('  -> {"ok": false, "error": {"type": "invalid_arguments"')
    assert '"fields": [{"path": "amount", "message": "expected number, got \\"ten\\""}]' in answer
    assert lines.index(bad) < lines.index(good)
    # the retry is a dispatch: its pending event is published before the answer is given
    assert lines[lines.index(good) + 1 : lines.index(good) + 3] == [
        "  [event] converted 10.0 EUR",
        '  -> {"ok": true, "result": 12.5}',
    ]
    assert "answer: In Paris it is sunny, 21C; 10 EUR is 12.5 USD." in lines
    assert "Traceback" not in done.stderr
