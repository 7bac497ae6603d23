"""examples/example.py runs with only the core installed and shows every feature."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "example.py"


def test_the_example_runs_and_prints_each_feature() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    lines = out.splitlines()
    for expected in [
        "dispatch returned resource id: ",
        "  by name 'resource.created': ",
        "  by class ResourceEvent: resource.created",
        "  by pattern 'order.*': order.placed",
        "every correlation_id is the PlaceOrder command's id",
        "  [log] ERROR subscriber __main__.main.<locals>.broken failed on event order.placed",
        "  by pattern 'system.*.error': subscriber __main__.main.<locals>.broken failed",
        "  the next subscriber still ran",
        "SubscriberError: 1 subscriber(s) of event 'order.placed' failed",
        "dispatch_async returned resource id: ",
        "async subscribers ran concurrently: True",
        "emit_async: async subscribers ran concurrently: True",
        "cancelled dispatch_async published 0 events",
        "  isolated bus got order.placed",
        "events that reached message_bus's subscribers: 0",
        "unknown command: CommandHandlerNotFound: ",
        "second handler: DuplicateHandlerError: ",
        "queue outside a handler: NoActiveScopeError: ",
        "sync dispatch, async handler: AsyncHandlerError: ",
        "runaway cascade: EventCascadeError: ",
        "message_bus closed",
    ]:
        assert any(line.startswith(expected) for line in lines), f"missing {expected!r} in:\n{out}"
    assert "True" in next(line for line in lines if line.startswith("every correlation_id"))
    # nested dispatch: its events are out before the outer handler continues
    nested = lines.index("  by pattern 'order.*': order.shipped")
    assert lines.index("  nested handler: shipping order-book") < nested
    assert nested < lines.index("  handler: back from the nested ShipOrder dispatch")
    assert lines.index("  close callback 2 (added last, runs first)") < lines.index(
        "  close callback 1 (added first, runs last)"
    )
    assert "Traceback" not in done.stderr
