"""Text for the terminal: one-line cells, columns aligned by display width, any encoding.

A run id, workflow name or error message may hold anything: a newline (which
would break a table's row), a character two columns wide, a character the
terminal's encoding cannot hold. Cells are made one line (control characters
escaped) and shown as the terminal will write them (unencodable characters as
backslash escapes, as the ``llmgine`` command writes them), and widths are counted in
terminal columns, so columns line up whatever the names.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Sequence

__all__ = ["cell", "table", "width"]


def cell(text: str) -> str:
    """``text`` on one line, as stdout will show it: control characters and what its
    encoding cannot hold escaped (``\\n``, ``\\xe9``)."""
    line = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        return line.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:  # an encoding Python does not know: keep it to ASCII
        return line.encode("ascii", "backslashreplace").decode("ascii")


def width(text: str) -> int:
    """How many terminal columns ``text`` takes: wide (East Asian) characters two,
    combining marks none."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """``header`` and ``rows`` as lines of columns two spaces apart, each as wide as its
    widest cell (the last column is not padded). Cells go through :func:`cell`."""
    shown = [[cell(text) for text in row] for row in [header, *rows]]
    widths = [max(width(row[i]) for row in shown) for i in range(len(header))]
    return [
        "  ".join(
            text if i == len(row) - 1 else text + " " * (widths[i] - width(text))
            for i, text in enumerate(row)
        )
        for row in shown
    ]
