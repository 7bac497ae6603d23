"""Every Python block of the documentation runs (README.md, docs/, and what they include).

* The untitled blocks of a page run in order in one module namespace, as a reader would
  paste them one after the other; top-level ``await`` works (each such block runs in
  ``asyncio.run``).
* A block titled with a file name (``python title="pkg/module.py"``) is that file: the
  titled blocks of all pages are written to one directory put on ``sys.path``, so that
  a page can build a package file by file and import it. A titled ``test_*.py`` file is
  run with pytest there (with the docs' ``pyproject.toml``, if one is titled so), which
  is how the testing pages' examples are checked. For those runs, the distribution that
  ``pyproject.toml`` describes is installed as pip would leave it (a ``.dist-info`` with
  its metadata and entry points, next to the files), so that tests of the installed
  plugin, which find it through its entry point, run too.
* A block after a ``<!-- fragment: why -->`` comment is only compiled, and so are the
  Python blocks of the walk-throughs, which tests/test_guide.py runs as files.
* Examples run in a temporary working directory, so that what they write (the audit
  page's ``audit.jsonl``, ...) stays out of the checkout; each test checks it did.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import subprocess
import sys
import tomllib
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from .docs_blocks import ROOT, WALKTHROUGHS, Block, blocks, pages
from .fake_dists import write_dist_info

EVERY = [block for page in pages() for block in blocks(page)]
ALL = [block for block in EVERY if block.is_python]
RUN = [b for b in ALL if not b.fragment and b.title is None and b.page not in WALKTHROUGHS]
#: files of any language (a pyproject.toml too), written where the examples run
FILES = [b for b in EVERY if b.title is not None and b.page not in WALKTHROUGHS]
TEST_FILES = [b for b in FILES if b.is_python and Path(b.title or "").name.startswith("test_")]
RUN_PAGES = sorted({b.page for b in RUN})


def _compile(block: Block) -> types.CodeType:
    return compile(
        block.code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )


@pytest.fixture(scope="module")
def doc_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding every titled block of the docs as the file it names."""
    root = tmp_path_factory.mktemp("doc_files")
    for block in FILES:
        assert block.title is not None
        target = root / block.title
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.code)
    return root


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where the docs' ``pyproject.toml`` distribution is "installed".

    Only its metadata: the code is ``doc_files``. It is kept apart from ``doc_files``
    so that the examples run in this process (``importable``) never discover it.
    """
    (pyproject,) = (b for b in FILES if b.title == "pyproject.toml")
    project = tomllib.loads(pyproject.code)["project"]
    root = tmp_path_factory.mktemp("installed")
    write_dist_info(
        root,
        project["name"],
        project["version"],
        project.get("entry-points", {}),
        project.get("dependencies", []),
    )
    return root


@pytest.fixture
def importable(doc_files: Path) -> Iterator[Path]:
    """``doc_files`` on ``sys.path`` for one test; what it imported from there is forgotten."""
    sys.path.insert(0, str(doc_files))
    try:
        yield doc_files
    finally:
        sys.path.remove(str(doc_files))
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", None) or "").startswith(str(doc_files)):
                del sys.modules[name]


def _checkout_status() -> str | None:
    """The checkout's ``git status`` (None where git or the checkout is missing)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=all"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def test_the_docs_have_python_to_run() -> None:
    assert len(RUN) >= 30
    assert {"README.md", "docs/plugin-guide/anatomy.md", "docs/guide/commands.md"} <= {
        b.page for b in RUN
    }
    assert {
        "test_greetings.py",
        "test_greetings_async.py",
        "test_greetings_installed.py",
        "test_greet.py",
    } <= {b.title for b in TEST_FILES}


def test_titled_blocks_name_each_file_once() -> None:
    seen: dict[str, Block] = {}
    for block in FILES:
        assert block.title is not None
        first = seen.setdefault(block.title, block)
        assert first.code == block.code, f"{block.where} and {first.where} both write {block.title}"


@pytest.mark.parametrize("block", ALL, ids=lambda b: b.where)
def test_every_python_block_compiles(block: Block) -> None:
    _compile(block)


@pytest.mark.parametrize("page", RUN_PAGES)
def test_page_examples_run(
    page: str, importable: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _checkout_status()
    monkeypatch.chdir(tmp_path)  # what the examples write goes here
    name = "docs_" + page.replace("/", "_").replace(".", "_").replace("-", "_")
    module = types.ModuleType(name)
    sys.modules[name] = module  # so that pickling and dataclasses find its classes
    try:
        for block in (b for b in RUN if b.page == page):
            code = _compile(block)
            if code.co_flags & inspect.CO_COROUTINE:
                asyncio.run(eval(code, module.__dict__))
            else:
                exec(code, module.__dict__)
    finally:
        del sys.modules[name]
    assert _checkout_status() == before, f"{page}'s examples wrote into the checkout"


@pytest.mark.slow
@pytest.mark.parametrize("block", TEST_FILES, ids=lambda b: b.title)
def test_test_files_of_the_docs_pass(block: Block, doc_files: Path, installed: Path) -> None:
    if "pytest.mark.asyncio" in block.code:
        pytest.importorskip("pytest_asyncio", reason="the example needs pytest-asyncio")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGINE_")}
    path = [str(doc_files), str(installed), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(block.title)],
        cwd=doc_files,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{block.where}:\n{result.stdout}{result.stderr}"
    assert " passed" in result.stdout, result.stdout
    assert "skipped" not in result.stdout, result.stdout


@pytest.mark.slow
def test_the_docs_files_pass_mypy_strict(doc_files: Path) -> None:
    # The plugin guide's package follows the plugin conventions, strict typing included.
    pytest.importorskip("mypy", reason="mypy comes with the dev extra")
    python = [str(p.relative_to(doc_files)) for p in doc_files.rglob("*.py")]
    assert any(p.startswith("llmgine_greetings") for p in python)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *sorted(python)],
        cwd=doc_files,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
