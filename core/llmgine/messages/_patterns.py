"""Event type names and the subscription patterns that match them.

A type name is dot-separated segments (``"resource.created"``). In a pattern a
segment ``*`` matches exactly one segment and ``**`` one or more; a bare ``"*"``
matches every event. Wildcards are whole segments: ``"res*"`` is rejected
rather than silently matching nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .errors import InvalidPatternError

__all__ = ["compile_pattern", "is_pattern", "validate_type_name"]

_ONE = "[^.]+"
_ONE_OR_MORE = r"[^.]+(?:\.[^.]+)*"


def is_pattern(key: str) -> bool:
    """Whether a subscription key is a wildcard pattern rather than an exact type name."""
    return "*" in key


def validate_type_name(name: object, *, what: str = "event type") -> str:
    """Return ``name`` if it is a valid event type name, else raise :class:`InvalidPatternError`."""
    if not isinstance(name, str) or not name:
        raise InvalidPatternError(f"{what} must be a non-empty string, got {name!r}")
    if "*" in name:
        raise InvalidPatternError(f"{what} {name!r} may not contain '*' (only patterns may)")
    if "" in name.split("."):
        raise InvalidPatternError(f"{what} {name!r} has an empty segment (check the dots)")
    return name


def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """Compile a pattern into a predicate over type names."""
    if pattern == "*":
        return _match_all
    regex = []
    for segment in pattern.split("."):
        if segment == "*":
            regex.append(_ONE)
        elif segment == "**":
            regex.append(_ONE_OR_MORE)
        elif not segment:
            raise InvalidPatternError(f"pattern {pattern!r} has an empty segment (check the dots)")
        elif "*" in segment:
            raise InvalidPatternError(
                f"pattern {pattern!r}: a wildcard must be a whole segment ('*' or '**'), "
                f"not part of {segment!r}"
            )
        else:
            regex.append(re.escape(segment))
    compiled = re.compile(r"\.".join(regex))
    return lambda name: compiled.fullmatch(name) is not None


def _match_all(name: str) -> bool:
    return True
