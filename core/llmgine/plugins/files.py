"""Files a plugin creates: private (mode 0600) unless its ``file_mode`` setting says otherwise.

A plugin that writes files (an audit log, a SQLite database) takes the setting
``file_mode``: ``install(bus, file_mode="0640")``, else the environment variable
``LLMGINE_<PLUGIN>_FILE_MODE``, else ``0600`` (only the owner reads and writes). A file
is created with exactly that mode (the umask does not narrow it); a file that exists
already keeps its mode. SQLite gives its ``-wal``, ``-shm`` and ``-journal`` files
the mode of the database file.
"""

from __future__ import annotations

import os
import re

__all__ = ["DEFAULT_FILE_MODE", "create_file", "file_mode_setting", "open_file", "parse_file_mode"]

#: read and write for the owner only
DEFAULT_FILE_MODE = 0o600

_OCTAL = re.compile(r"(?:0o)?[0-7]+", re.IGNORECASE)
_EXAMPLES = "an octal file mode such as 0600 or 0640"


def parse_file_mode(value: object, what: str) -> int:
    """The permission bits ``value`` stands for: an octal string (``"0640"``, ``"640"``,
    ``"0o640"``) or an int (``0o640``).

    Raises ``TypeError`` or ``ValueError`` whose message starts with ``what`` (e.g.
    ``"llmgine_audit.install(): setting file_mode"``) for anything else, for bits beyond
    0777 (no setuid, setgid or sticky bit) and for a mode that would not let the owner
    read and write the file (the plugin could not use it).
    """
    if isinstance(value, str):
        text = value.strip()
        if not _OCTAL.fullmatch(text):
            raise ValueError(f"{what} must be {_EXAMPLES}, not {value!r}")
        mode = int(text.lower().removeprefix("0o"), 8)
    elif isinstance(value, int) and not isinstance(value, bool):
        mode = value
    else:
        raise TypeError(
            f"{what} must be {_EXAMPLES} (a string, or an int like 0o640), "
            f"not {value!r} ({type(value).__name__})"
        )
    if not 0 <= mode <= 0o777:
        raise ValueError(
            f"{what} {value!r} is not a file mode: only the permission bits 0000 to 0777 may be set"
        )
    if mode & 0o600 != 0o600:
        raise ValueError(
            f"{what} {value!r} ({mode:04o}) does not let the owner read and write the file, "
            "which the plugin needs; give the owner both (0600, 0640, 0660, ...)"
        )
    return mode


def file_mode_setting(value: object, variable: str, origin: str) -> int:
    """The ``file_mode`` setting: ``value`` unless None, else environment variable
    ``variable``, else :data:`DEFAULT_FILE_MODE`; errors name where a bad value came from.

    ``origin`` is what took ``value``, e.g. ``"llmgine_audit.install()"``.
    """
    if value is not None:
        return parse_file_mode(value, f"{origin}: setting file_mode")
    raw = os.environ.get(variable, "")
    if not raw.strip():
        return DEFAULT_FILE_MODE
    return parse_file_mode(raw, f"environment variable {variable}")


def open_file(path: str | os.PathLike[str], flags: int, mode: int) -> int:
    """``os.open(path, flags)``, creating the file first with exactly ``mode`` if it is missing.

    ``flags`` must not hold ``O_CREAT``. A file that exists keeps its mode.
    """
    fd = _create(path, flags, mode)
    return os.open(path, flags) if fd is None else fd


def create_file(path: str | os.PathLike[str], mode: int) -> bool:
    """Create ``path`` empty with exactly ``mode`` unless it exists; whether it was created.

    For a file another library opens afterwards (``sqlite3.connect`` would create its
    database with mode 0644, less the umask). A file that exists keeps its mode.
    """
    fd = _create(path, os.O_WRONLY | os.O_CLOEXEC, mode)
    if fd is None:
        return False
    os.close(fd)
    return True


def _create(path: str | os.PathLike[str], flags: int, mode: int) -> int | None:
    """A descriptor of ``path``, newly created with exactly ``mode``; None if it exists."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return None
    try:
        os.fchmod(fd, mode)  # os.open's mode was narrowed by the umask
    except BaseException:
        os.close(fd)
        raise
    return fd
