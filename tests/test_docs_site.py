"""The documentation site's structure: the front page, its links, the nav, the CLI reference.

(mkdocs.yml builds the site; ``python3 dev.py docs`` builds it strictly. These tests need no
MkDocs: they check what the build relies on.)
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
from llmgine.cli import build_parser

from .docs_blocks import ROOT_DOCUMENTS, blocks, expanded_lines

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")
#: fenced blocks and code spans, whose brackets are not links
CODE = re.compile(r"^[ \t]*(```+).*?^[ \t]*\1[ \t]*$|`[^`\n]*`", re.MULTILINE | re.DOTALL)


def _load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_pages", DOCS / "_hooks" / "pages.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pages = _load_hooks()


def _relative_links(text: str) -> list[str]:
    """The link targets of markdown ``text`` that are files relative to it (anchors cut)."""
    targets = [t.split("#")[0] for t in LINK.findall(CODE.sub("", text))]
    return [t for t in targets if t and "://" not in t and not t.startswith("mailto:")]


def test_links_are_found_outside_code_only() -> None:
    text = "[a](x.md#s) [b](#local) [c](https://x.org)\n`[d](y.md)`\n```\n[e](z.md)\n```\n"
    assert _relative_links(text) == ["x.md"]


def test_the_front_page_is_short_and_says_what_a_newcomer_needs() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    for needed in (
        "python3 dev.py example",
        "python3 dev.py test",
        "python3 dev.py docs serve",
        "llmgine-messages",
        "docs/quickstart.md",
    ):
        assert needed in text, f"README.md does not mention {needed!r}"


def test_the_docs_tests_read_the_root_documents_the_site_shows() -> None:
    assert set(ROOT_DOCUMENTS) == set(pages.ROOT_DOCUMENTS.values())
    assert {"README.md", "CONTRIBUTING.md", "CHANGELOG.md"} <= set(ROOT_DOCUMENTS)


def test_the_front_page_example_is_short_and_needs_the_core_alone() -> None:
    # (tests/test_docs_examples.py runs it.) Its blank lines are ruff format's, which
    # `dev.py check` applies to the Markdown's code blocks too: two between definitions.
    example = next(b for b in blocks(README) if b.is_python)
    assert len([line for line in example.code.splitlines() if line.strip()]) <= 14
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name) or ""
        for node in ast.walk(ast.parse(example.code))
        if isinstance(node, ast.Import | ast.ImportFrom)
    }
    assert {name.split(".")[0] for name in imported} == {"dataclasses", "llmgine"}


@pytest.mark.parametrize("document", sorted(pages.ROOT_DOCUMENTS.values()))
def test_root_documents_link_to_files_that_exist_and_have_a_page(document: str) -> None:
    # The build rewrites these links (docs/_hooks/pages.py); a target it cannot map
    # fails the strict build, and this test first.
    links = _relative_links((ROOT / document).read_text())
    assert links
    for target in links:
        assert (ROOT / target).exists(), f"{document} links to {target}, which does not exist"
        page = pages.site_link(target)  # raises for a file the site does not show
        assert (DOCS / page).is_file(), f"{document}: {target} maps to missing docs/{page}"


def test_files_included_into_pages_have_no_relative_links() -> None:
    # A `--8<--` include copies its links unchanged, so a link relative to the included
    # file would point at nothing on the site (mkdocs build --strict fails): such files
    # must be shown through ROOT_DOCUMENTS, whose links the build rewrites.
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        own = f"{page.relative_to(ROOT)}:"
        lines = expanded_lines(page)
        included = "\n".join("" if origin.startswith(own) else text for text, origin in lines)
        found += [f"{page.relative_to(ROOT)}: {t}" for t in _relative_links(included)]
    assert found == [], "included files link to relative paths the site cannot resolve"


def test_a_link_the_site_cannot_show_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"'examples/example\.py'"):
        pages.site_link("examples/example.py")
    assert pages.root_document("[a](docs/cli.md#llmgine-trace) [b](https://x.org/y.md)") == (
        "[a](cli.md#llmgine-trace) [b](https://x.org/y.md)"
    )


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    nav = config[config.index("\nnav:") :]
    in_nav = set(re.findall(r"^\s*-\s*(?:[^:\n]+:\s*)?([\w/.-]+\.md)\s*$", nav, re.MULTILINE))
    on_disk = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if "_hooks" not in p.parts}
    assert in_nav == on_disk


def test_mkdocstrings_sees_every_plugin_package() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    for plugin in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        directory = plugin.parent.relative_to(ROOT)
        assert f"- {directory}\n" in config, f"mkdocs.yml: {directory} is not in the paths"


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(" ".join(("llmgine", *path)), parser)]
    for action in parser._actions:  # (argparse has no public accessor for subparsers)
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, (*path, name))
    return found


def test_the_cli_reference_shows_the_help_of_every_command() -> None:
    reference = pages.cli_reference()
    commands = _commands(build_parser())
    names = [name for name, _ in commands]
    assert {"llmgine plugins", "llmgine trace", "llmgine worker", "llmgine workflows list"} <= set(
        names
    )
    for name, parser in commands:
        assert f"### `{name}`" in reference, f"the CLI reference has no section for {name}"
        for action in parser._actions:
            for option in action.option_strings:
                assert option in reference, f"the CLI reference does not show {name} {option}"


def test_the_cli_page_has_the_marker_the_build_fills() -> None:
    assert pages.CLI_MARKER in (DOCS / "cli.md").read_text()
