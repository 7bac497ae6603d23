"""docs/_hooks/griffe_roles.py: Sphinx roles in docstrings become links, and broken ones are named.

Needs Griffe, which comes with the docs extra (``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from types import ModuleType

import pytest

griffe = pytest.importorskip("griffe", reason="the docs extra is not installed")

ROOT = Path(__file__).resolve().parent.parent


def _extension() -> ModuleType:
    path = ROOT / "docs" / "_hooks" / "griffe_roles.py"
    spec = importlib.util.spec_from_file_location("docs_griffe_roles", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(tmp_path: Path, source: str) -> object:
    package = tmp_path / "llmgine_rolesdemo"
    package.mkdir()
    (package / "__init__.py").write_text(source)
    extensions = griffe.load_extensions(_extension().SphinxRoles())
    loader = griffe.GriffeLoader(extensions=extensions, search_paths=[str(tmp_path)])
    return loader.load("llmgine_rolesdemo")


def test_roles_become_links_to_what_they_name(tmp_path: Path) -> None:
    module = _load(
        tmp_path,
        '"""Use :class:`Thing` or :func:`~llmgine_rolesdemo.make`; see :exc:`ValueError`."""\n'
        "class Thing:\n    '''A thing.'''\n"
        "def make() -> Thing:\n"
        "    '''Make a :class:`Thing`::\n\n        make()\n\n    That is all.\n    '''\n",
    )
    docstring = module.docstring.value  # type: ignore[attr-defined]
    assert '<autoref identifier="llmgine_rolesdemo.Thing" optional><code>Thing</code>' in docstring
    assert '<autoref identifier="llmgine_rolesdemo.make" optional><code>make</code>' in docstring
    assert "<code>ValueError</code>" in docstring  # Python's own: code, no link
    assert ":class:" not in docstring
    make = module["make"].docstring.value  # type: ignore[index]
    assert "Thing</code></autoref>:\n\n" in make  # the literal block's "::" is one colon


def test_a_role_naming_nothing_is_a_warning_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mkdocs.plugins.llmgine.griffe_roles"):
        module = _load(tmp_path, '"""See :func:`no_such_function`."""\n')
    assert "<code>no_such_function</code>" in module.docstring.value  # type: ignore[attr-defined]
    (record,) = caplog.records
    assert "llmgine_rolesdemo" in record.getMessage()
    assert ":func:`no_such_function`" in record.getMessage()
