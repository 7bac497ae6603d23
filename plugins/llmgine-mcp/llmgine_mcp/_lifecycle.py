"""How ``llmgine mcp serve`` stops: stdin closing, SIGTERM or SIGINT, and closing the bus.

The SDK reads stdin in a worker thread blocked in ``read()``, which nothing can
interrupt: after a signal, waiting for it would wait for the client to close stdin.
So a signal closes the bus (the plugins' shutdown hooks, ``on_close`` callbacks,
``async def`` ones too) and ends the process at once with ``os._exit``, exit status
128 + the signal's number. A second signal ends it without waiting for the bus.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import traceback

from llmgine.tools import Toolbox

from ._server import serve_on
from ._stdio import flush

__all__ = ["STOP_SIGNALS", "serve_until_stopped"]

#: the signals that stop the server cleanly
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def serve_until_stopped(toolbox: Toolbox, wire: int, *, name: str, close_bus: bool) -> int:
    """Serve until stdin closes (return 0) or a signal arrives (exit 128 + its number).

    With ``close_bus``, the toolbox's bus is closed (``await bus.aclose()``) either way,
    in this event loop, where the handlers' async clients were made.
    """
    loop = asyncio.get_running_loop()
    stops: list[asyncio.Task[None]] = []  # the stop a signal started
    closing: list[bool] = []  # set once the bus closes after stdin closed

    def on_signal(sig: signal.Signals) -> None:
        if stops or closing:
            _exit(128 + sig.value)  # a second signal: what the user asked for, no clean-up
        say(f"{sig.name}: closing the bus and exiting (again to exit at once)")
        stops.append(loop.create_task(stop(sig)))

    async def stop(sig: signal.Signals) -> None:
        try:
            if close_bus:
                await toolbox.bus.aclose()
        except Exception:  # the callbacks' errors, said; the exit stays the signal's
            traceback.print_exc()
        _exit(128 + sig.value)

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await serve_on(toolbox, wire, name=name)
    finally:
        if stops:
            await stops[0]  # (which ends the process)
        closing.append(True)
        try:
            if close_bus:
                await toolbox.bus.aclose()  # runs the plugins' shutdown hooks
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
    return 0


def say(line: str) -> None:
    """Tell the user ``line`` on stderr (stdout is the protocol's)."""
    print(f"llmgine mcp: {line}", file=sys.stderr, flush=True)


def _exit(status: int) -> None:
    flush(sys.stdout, sys.__stdout__, sys.stderr)  # (os._exit does not)
    os._exit(status)
