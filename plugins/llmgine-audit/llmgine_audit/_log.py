"""The audit log file: one JSON line per event, written so a failing disk never stops the bus."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
from pathlib import Path
from typing import Literal

from llmgine.messages.events import Event
from llmgine.plugins.files import DEFAULT_FILE_MODE, open_file, parse_file_mode

from ._record import to_json_line

__all__ = ["AuditLog", "Change"]

logger = logging.getLogger("llmgine.audit")

#: What a write changed: writing started failing, or works again after failing.
Change = Literal["failed", "recovered"]


class AuditLog:
    """Appends events to the file ``path`` as JSON lines; safe to share between threads.

    Each line is handed to the operating system with one unbuffered ``write`` as soon
    as the event is written, so nothing waits in a buffer when the process dies, and
    the file is opened with ``O_APPEND`` so processes sharing it do not overwrite
    each other. Nothing touches the disk until the first write (or :meth:`open`).
    A missing file is created with exactly ``file_mode`` (default 0600: only the owner
    reads it; an octal string like ``"0640"`` or an int); an existing one keeps its mode.

    When writing fails (``OSError``: disk full, directory gone, permissions), the
    event is dropped and counted in :attr:`dropped`, the file is closed, and the
    failure is logged once per streak on the ``llmgine.audit`` logger. The next
    write reopens the file, so writing resumes as soon as the disk allows; a line
    cut short by the failure is ended first, so the lines after it parse again.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, file_mode: int | str = DEFAULT_FILE_MODE
    ) -> None:
        self.path = Path(path)
        #: the mode the file is created with
        self.file_mode = parse_file_mode(file_mode, "AuditLog(file_mode=...)")
        self._lock = threading.Lock()
        self._fd: int | None = None
        #: the last line was cut short: end it before the next one
        self._partial = False
        #: events written since this object was created
        self.written = 0
        #: events lost because writing failed
        self.dropped = 0
        #: whether the last attempt to write failed
        self.failing = False
        #: the last write error, as text (``None`` if writing never failed)
        self.last_error: str | None = None
        self._dropped_in_streak = 0

    def __repr__(self) -> str:
        state = f", failing ({self.last_error})" if self.failing else ""
        counts = f"{self.written} written, {self.dropped} dropped"
        return f"<AuditLog {str(self.path)!r}: {counts}{state}>"

    def __del__(self) -> None:
        # A log forgotten with its bus (reset, or dropped unclosed) releases its file.
        fd = getattr(self, "_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def write(self, event: Event) -> Change | None:
        """Append ``event`` as one line; never raises ``OSError``. Returns what changed, if so."""
        line = to_json_line(event)
        with self._lock:
            try:
                if self._fd is None:
                    self._fd = self._open()
                if self._partial:
                    self._write_all(self._fd, b"\n")
                    self._partial = False
                self._write_all(self._fd, line)
            except OSError as exc:
                return self._failed(exc, dropped=1)
            self.written += 1
            if not self.failing:
                return None
            self.failing = False
            logger.warning(
                "audit log %s is writable again; %d event(s) were dropped while it was not",
                self.path,
                self._dropped_in_streak,
            )
            return "recovered"

    def open(self) -> Change | None:
        """Open the file now (at startup), so a bad path is reported before the first event."""
        with self._lock:
            if self._fd is None:
                try:
                    self._fd = self._open()
                except OSError as exc:
                    return self._failed(exc, dropped=0)
        return None

    def close(self) -> None:
        """Close the file; the next write opens it again."""
        with self._lock:
            self._close()

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
        return open_file(self.path, flags, self.file_mode)

    def _write_all(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                count = os.write(fd, view)
            except OSError:
                self._partial = self._partial or len(view) < len(data)
                raise
            if count == 0:  # a regular file never does this; refuse to spin
                raise OSError(errno.EIO, "write() accepted no bytes")
            view = view[count:]

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            # the descriptor is released even when close reports an error
            with contextlib.suppress(OSError):
                os.close(fd)

    def _failed(self, exc: OSError, *, dropped: int) -> Change | None:
        self._close()
        self.dropped += dropped
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self.failing:
            self._dropped_in_streak += dropped
            return None
        self.failing = True
        self._dropped_in_streak = dropped
        logger.error(
            "cannot write the audit log %s (%s); %s; events are dropped and counted until it "
            "is writable again",
            self.path,
            self.last_error,
            _fix(self.path, exc),
        )
        return "failed"


def _fix(path: Path, exc: OSError) -> str:
    """What to do about ``exc``, the error writing ``path`` (the path comes from
    ``LLMGINE_AUDIT_LOG`` or ``install(bus, log=...)``)."""
    if exc.errno == errno.EISDIR:
        return "it is a directory: set LLMGINE_AUDIT_LOG (or log=) to a file path"
    if exc.errno == errno.ENOTDIR:
        return "a part of its path is a file, not a directory: fix LLMGINE_AUDIT_LOG (or log=)"
    if exc.errno == errno.ENOENT:
        return f"its directory {path.parent} does not exist: create it, or fix the path"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "check the permissions of the file and its directory"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "free some disk space"
    return "check the disk space, the directory and its permissions"
