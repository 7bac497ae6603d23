"""The core's version range, wherever the docs state it, is the running core's minor series:
the range ``llmgine new-plugin`` writes and every shipped plugin requires
(tests/test_versions_agree.py checks the plugins). CHANGELOG.md is history and is left out."""

from __future__ import annotations

import re

from llmgine._scaffold import core_requirement

from .docs_blocks import ROOT, pages

RANGE = re.compile(r"llmgine-messages\s*>=\s*[\w.]+\s*,\s*<\s*[\w.]+")


def test_every_range_the_docs_state_is_the_cores_minor_series() -> None:
    expected = core_requirement()
    found = {
        f"{page.relative_to(ROOT)}: {match.group(0)}"
        for page in pages()
        if page.name != "CHANGELOG.md"
        for match in RANGE.finditer(page.read_text(encoding="utf-8"))
    }
    assert len(found) >= 3, found
    wrong = sorted(where for where in found if not where.endswith(": " + expected))
    assert wrong == [], f"these should say {expected}"
