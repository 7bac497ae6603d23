"""The code blocks of the documentation: the root documents the site shows and docs/.

A page is read as MkDocs shows it: a line ``--8<-- "path"`` (or ``"path:section"``,
between ``<!-- --8<-- [start:section] -->`` and ``[end:section]`` markers) is replaced
by that file of the repository, as pymdownx.snippets does. Each fenced block records
its language, its ``title="..."`` if it has one, and whether the line before it is a
``<!-- fragment: why -->`` comment (a block that is only compiled).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: documents at the repository's root that the site shows as pages (docs/_hooks/pages.py
#: puts them there at build time; tests/test_docs_site.py checks this list against it)
ROOT_DOCUMENTS = ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")
#: pages whose console blocks and files tests/test_guide.py runs as a walk-through
WALKTHROUGHS = frozenset({"docs/quickstart.md", "docs/plugin-guide/index.md"})

_INCLUDE = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"\s*$')
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+)(?P<info>[^`\n]*)$")
_FRAGMENT = re.compile(r"^\s*<!--\s*fragment\b(?P<why>.*?)-->\s*$")
_TITLE = re.compile(r'\btitle="(?P<title>[^"]+)"')


@attrs.frozen
class Block:
    """One fenced code block of a page."""

    page: str  # the page, relative to the repository root
    where: str  # "file:line" of its opening fence (in the included file, if included)
    language: str
    title: str | None
    fragment: bool
    code: str

    @property
    def is_python(self) -> bool:
        """Whether it is Python (the only blocks the tests compile or run)."""
        return self.language in ("python", "py")


def pages() -> list[Path]:
    """The root documents and every page under docs/, in a stable order."""
    return [*(ROOT / name for name in ROOT_DOCUMENTS), *sorted(DOCS.rglob("*.md"))]


def _section(text: str, name: str, origin: str) -> str:
    start = re.search(rf"^.*--8<-- \[start:{re.escape(name)}\].*$\n", text, re.M)
    end = re.search(rf"^.*--8<-- \[end:{re.escape(name)}\].*$", text, re.M)
    if not start or not end or end.start() < start.end():
        raise ValueError(f"{origin} has no section {name!r} (start:/end: markers)")
    return text[start.end() : end.start()]


def expanded_lines(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[str, str]]:
    """``path``'s lines with includes expanded, each with its ``file:line`` origin."""
    if path in seen:
        raise ValueError(f"{path} includes itself through {seen}")
    lines: list[tuple[str, str]] = []
    text = path.read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        include = _INCLUDE.match(line)
        if include is None:
            if "--8<-- [" not in line:  # section markers are not shown
                lines.append((line, f"{path.relative_to(ROOT)}:{number}"))
            continue
        target = ROOT / include["path"]
        if include["section"] is None:
            lines += expanded_lines(target, (*seen, path))
            continue
        # A section keeps the line numbers of its file.
        body = _section(target.read_text(encoding="utf-8"), include["section"], str(target))
        first = target.read_text(encoding="utf-8").index(body)
        offset = target.read_text(encoding="utf-8")[:first].count("\n")
        relative = target.relative_to(ROOT)
        lines += [
            (text_line, f"{relative}:{offset + i}")
            for i, text_line in enumerate(body.splitlines(), 1)
        ]
    return lines


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of page ``path`` (includes expanded), in order."""
    page = str(path.relative_to(ROOT))
    lines = expanded_lines(path)
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i][0])
        if opening is None:
            i += 1
            continue
        info = opening["info"].strip()
        close = re.compile(rf"^[ \t]*{opening['fence']}\s*$")
        end = next((j for j in range(i + 1, len(lines)) if close.match(lines[j][0])), None)
        if end is None:
            raise ValueError(f"{lines[i][1]}: a code block that is never closed")
        previous = next((line for line, _ in reversed(lines[:i]) if line.strip()), "")
        title = _TITLE.search(info)
        found.append(
            Block(
                page=page,
                where=lines[i][1],
                language=info.split()[0] if info else "",
                title=title["title"] if title else None,
                fragment=_FRAGMENT.match(previous) is not None,
                code=textwrap.dedent("\n".join(line for line, _ in lines[i + 1 : end])) + "\n",
            )
        )
        i = end + 1
    return found
