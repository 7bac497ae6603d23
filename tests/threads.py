"""Running test code on several threads that switch as often as CPython lets them."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable


def race(*targets: Callable[[], object], switch_interval: float = 1e-6) -> None:
    """Run each of ``targets`` on a thread of its own and wait for all: races that need
    a thread switch at one exact point show up within a few thousand iterations."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(switch_interval)
    try:
        threads = [threading.Thread(target=target) for target in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
