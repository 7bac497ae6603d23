"""The fault script's rows, and how they are printed: a Markdown table, or JSON."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

COLUMNS = (
    "fault",
    "sent",
    "accepted",
    "raised",
    "delivered",
    "lost",
    "duplicated",
    "dead-lettered",
    "recover",
    "verdict",
)


@dataclasses.dataclass
class Row:
    """One fault's line of the table (the fault script's docstring says what each column is)."""

    fault: int
    title: str
    sent: int = 0
    accepted: int = 0
    raised: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    dead: int = 0
    #: seconds from the end of the fault to the last delivery (None: none after it)
    recover: float | None = None
    #: the promises of the issue's guarantee this case saw broken
    problems: list[str] = dataclasses.field(default_factory=list)
    #: what else the case observed
    notes: list[str] = dataclasses.field(default_factory=list)
    #: how long the case took (set by the script)
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        """``ok`` when the case kept every promise of the guarantee, else ``BROKEN``."""
        return "BROKEN" if self.problems else "ok"

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON values, with its verdict."""
        return {**dataclasses.asdict(self), "verdict": self.verdict}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Row:
        """The row :meth:`as_dict` made (a case process prints it so)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def counts(counter: Counter[str]) -> str:
    """``"name n, name n"``, most common first."""
    return ", ".join(f"{name} {n}" for name, n in counter.most_common())


def markdown(rows: Sequence[Row]) -> str:
    """The table (one row per fault), then each fault's problems and notes."""
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|---|" + "---:|" * 8 + "---|",
    ]
    for row in rows:
        recover = "-" if row.recover is None else f"{row.recover:.1f}s"
        cells = [
            f"{row.fault}. {row.title}",
            *(
                f"{n:,}"
                for n in (
                    row.sent,
                    row.accepted,
                    row.raised,
                    row.delivered,
                    row.lost,
                    row.duplicated,
                    row.dead,
                )
            ),
            recover,
            row.verdict,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for row in rows:
        lines.append(f"{row.fault}. {row.title} ({row.seconds:.0f}s): {row.verdict}")
        lines.extend(f"   - BROKEN: {problem}" for problem in row.problems)
        lines.extend(f"   - {note}" for note in row.notes)
    return "\n".join(lines)


def as_json(rows: Sequence[Row]) -> str:
    """Every row as a JSON list."""
    return json.dumps([row.as_dict() for row in rows], indent=2)
