"""The docs' sample of ``llmgine plugins`` is what the command prints: each console block
of the docs (the walk-throughs aside, which tests/test_guide.py runs) that shows a bare
``$ llmgine plugins`` is compared with a real run, in an environment with the shipped
plugins installed and no ``LLMGINE_*`` variable set."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .docs_blocks import WALKTHROUGHS, Block, blocks, pages

COMMAND = "$ llmgine plugins"
SAMPLES = [
    b
    for page in pages()
    for b in blocks(page)
    if b.language == "console" and b.code.startswith(COMMAND + "\n") and b.page not in WALKTHROUGHS
]


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_the_docs_show_the_listing() -> None:
    assert "docs/plugins/index.md" in {b.page for b in SAMPLES}


@pytest.mark.parametrize("block", SAMPLES, ids=lambda b: b.where)
def test_the_sample_is_the_real_output(block: Block, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGINE_")}
    done = subprocess.run(
        [sys.executable, "-m", "llmgine.cli", "plugins"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (0, "")
    sample = _lines(block.code)[1:]
    real = _lines(done.stdout)
    diff = "\n".join(
        difflib.unified_diff(sample, real, block.where, "llmgine plugins", lineterm="")
    )
    assert sample == real, f"update the sample at {block.where}:\n{diff}"
