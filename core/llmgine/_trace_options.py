"""What the tracer prints: the line filter (``--only``, ``--depth``) and the glyphs.

Read by :mod:`llmgine.tracing` (from its parameters or the environment) and by
``llmgine trace`` (from its options), so that both accept and refuse the same values.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase
from typing import Any, NamedTuple, TextIO, TypeVar

from .messages._naming import type_name

__all__ = [
    "ASCII",
    "DEPTH_ENV",
    "ONLY_ENV",
    "UNICODE",
    "Glyphs",
    "LineFilter",
    "glyphs_for",
    "parse_depth",
    "parse_only",
]

#: Comma-separated fnmatch patterns: only lines about matching message types are printed.
ONLY_ENV = "LLMGINE_TRACE_ONLY"
#: A whole number N: lines nested deeper than N (0 = top level) are not printed.
DEPTH_ENV = "LLMGINE_TRACE_DEPTH"

T = TypeVar("T")
U = TypeVar("U")

_ONLY_FORM = (
    "comma-separated fnmatch patterns on message type names, e.g. 'app.*,chat.turn_*'; "
    "a pattern starting with ! excludes"
)


def parse_only(value: str | Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split ``--only`` patterns (a comma-separated string or an iterable of patterns)
    into the patterns that include and those (written ``!PATTERN``) that exclude.

    Raises ``ValueError`` naming the problem when no pattern is given.
    """
    pieces = value.split(",") if isinstance(value, str) else list(value)
    include: list[str] = []
    exclude: list[str] = []
    for piece in pieces:
        pattern = piece.strip()
        if not pattern:
            continue  # a stray comma
        if pattern.startswith("!"):
            if not pattern[1:].strip():
                raise ValueError(f"'!' must be followed by a pattern to exclude ({_ONLY_FORM})")
            exclude.append(pattern[1:].strip())
        else:
            include.append(pattern)
    if not include and not exclude:
        raise ValueError(f"no pattern given ({_ONLY_FORM})")
    return tuple(include), tuple(exclude)


def parse_depth(value: str | int) -> int:
    """``--depth`` as an int: a whole number, 0 or more; ``ValueError`` otherwise."""
    if isinstance(value, bool):  # (an int to Python, never meant as a depth)
        raise ValueError(f"must be a whole number, 0 or more, not {value!r}")
    try:
        depth = value if isinstance(value, int) else int(value.strip())
    except ValueError:
        raise ValueError(f"must be a whole number, 0 or more, not {value!r}") from None
    if depth < 0:
        raise ValueError(f"must be 0 or more (0 shows the top level only), not {depth}")
    return depth


def _setting(given: Any, name: str, parse: Callable[[Any], T], unset: U) -> T | U:
    """``parse(given)``; if ``given`` is None, environment variable ``name`` parsed
    (not set or empty: ``unset``)."""
    if given is not None:
        return parse(given)
    raw = os.environ.get(name, "")
    if not raw.strip():
        return unset
    try:
        return parse(raw)
    except ValueError as exc:
        # A bad value in the environment must not stop the program it was meant to trace.
        warnings.warn(f"{name}={raw!r} is ignored: {exc}", RuntimeWarning, stacklevel=4)
        return unset


class LineFilter:
    """Decides which trace lines are printed: by message type and by depth."""

    __slots__ = ("_seen", "depth", "exclude", "include")

    def __init__(
        self,
        only: str | Iterable[str] | None = None,
        depth: int | str | None = None,
    ) -> None:
        """``None`` takes the value of ``LLMGINE_TRACE_ONLY`` / ``LLMGINE_TRACE_DEPTH``
        (not set or empty: no filter). Bad values raise ``ValueError`` (bad values in
        the variables are warned about and ignored)."""
        include, exclude = _setting(only, ONLY_ENV, parse_only, ((), ()))
        #: the patterns a shown message type must match one of (none: every type)
        self.include: tuple[str, ...] = include
        #: the patterns no shown message type matches
        self.exclude: tuple[str, ...] = exclude
        #: the deepest line printed (0 is the top level), or None for no limit
        self.depth: int | None = _setting(depth, DEPTH_ENV, parse_depth, None)
        self._seen: dict[tuple[type, str | None], bool] = {}

    def __repr__(self) -> str:
        return f"<LineFilter include={self.include} exclude={self.exclude} depth={self.depth}>"

    def shows(self, depth: int, message_class: type, event_type: str | None = None) -> bool:
        """Whether a line at ``depth`` about a message of ``message_class`` is printed."""
        if self.depth is not None and depth > self.depth:
            return False
        if not self.include and not self.exclude:
            return True
        key = (message_class, event_type)
        shown = self._seen.get(key)
        if shown is None:  # matched once per type: a stream of events costs a lookup each
            names = [type_name(message_class), message_class.__qualname__]
            if event_type is not None:
                names.append(event_type)
            shown = self._seen[key] = _matches(names, self.include, default=True) and not (
                _matches(names, self.exclude, default=False)
            )
        return shown


def _matches(names: list[str], patterns: tuple[str, ...], *, default: bool) -> bool:
    if not patterns:
        return default
    return any(fnmatchcase(name, pattern) for name in names for pattern in patterns)


class Glyphs(NamedTuple):
    """The marks at the start of trace lines."""

    start: str
    done: str
    failed: str
    cancelled: str
    event: str
    call: str


#: The marks for terminals that can print them.
UNICODE = Glyphs(start="▶", done="✔", failed="✘", cancelled="✖", event="●", call="→")
#: The marks for streams whose encoding has none of them (ascii, latin-1, cp1252, ...).
ASCII = Glyphs(start=">", done="ok", failed="x", cancelled="x", event="*", call="->")


def glyphs_for(stream: TextIO) -> tuple[Glyphs, str | None]:
    """The glyphs ``stream`` can encode, and the encoding every line must be made safe
    for (``None`` if it can take any text, e.g. UTF-8 or a ``StringIO``)."""
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return UNICODE, None
    try:
        "".join(UNICODE).encode(encoding)
    except LookupError:
        return ASCII, "ascii"
    except UnicodeError:
        return ASCII, encoding
    return UNICODE, None
