"""Keeping stdout for the protocol: everything else that writes to stdout goes to stderr.

Stdout carries the JSON-RPC messages, so one stray line (a handler's ``print()``, a
module writing to ``sys.__stdout__`` or fd 1, a child process) breaks the client's
session. While serving, fd 1 and ``sys.stdout`` point at stderr and the protocol
writes to a private duplicate of the original fd 1, so that nothing else reaches it,
not even what Python's buffer flushes when the process exits.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from io import TextIOWrapper
from typing import TextIO

import anyio

__all__ = ["flush", "protocol_stdout", "stdout_to_stderr"]


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[int]:
    """Point fd 1 and ``sys.stdout`` at stderr; yield a private duplicate of fd 1.

    On exit, what was written to stdout meanwhile is flushed (to stderr) before fd 1
    points at the original stdout again.
    """
    flush(sys.stdout, sys.__stdout__)
    wire = os.dup(1)  # (not inherited by child processes)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield wire
    finally:
        flush(sys.stdout, sys.__stdout__)
        os.dup2(wire, 1)
        os.close(wire)


def protocol_stdout(wire: int) -> anyio.AsyncFile[str]:
    """The stream the SDK's ``stdio_server`` writes the protocol's messages to: fd ``wire``."""
    # closefd=False: stdout_to_stderr closes it, once the SDK is done with it
    binary = os.fdopen(wire, "wb", closefd=False)
    return anyio.wrap_file(TextIOWrapper(binary, encoding="utf-8"))


def flush(*streams: TextIO | None) -> None:
    """Flush ``streams``, those closed, broken or missing (``None``) left alone."""
    for stream in streams:
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):  # closed or broken: nothing to keep
                stream.flush()
