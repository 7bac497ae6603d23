"""``llmgine ... --help``: plain text (no reStructuredText), and every argument explained.

The walk covers the core's subcommands and those the installed plugins add through
``register_cli`` (the shipped plugins are installed in the test environment).
"""

from __future__ import annotations

import argparse
import functools
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from llmgine import cli
from llmgine.plugins import PluginHost, use_plugin_host

CORE = {"plugins", "new-plugin", "trace", "schema"}

#: ``llmgine``, :func:`x`, :class:`x`, :mod:`x`, ... as docstrings write them.
MARKUP = re.compile(r"``|:[a-z]+:`")


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _walk(child, (*path, name))


@functools.cache
def _parsers() -> dict[str, argparse.ArgumentParser]:
    # (a host of its own: the process's default one is left as the other tests expect it)
    with use_plugin_host(PluginHost()):
        parser = cli.build_parser()
    return {" ".join(path): parser for path, parser in _walk(parser)}


def _arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        action
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
    ]


def test_the_walk_reaches_the_core_and_the_shipped_plugins_subcommands() -> None:
    parsers = _parsers()
    assert set(parsers) >= CORE
    assert {"worker", "workflows", "workflows list", "workflows show"} <= set(parsers)


@pytest.mark.parametrize("path", sorted(_parsers()))
def test_help_is_plain_text(path: str) -> None:
    parser = _parsers()[path]
    text = parser.format_help()
    # (a parser's help includes its subcommands' one-line helps)
    assert not MARKUP.findall(text), f"llmgine {path} -h shows markup:\n{text}"


@pytest.mark.parametrize("path", ["", *sorted(CORE)])
def test_every_core_argument_says_what_it_does_and_options_their_default(path: str) -> None:
    parser = _parsers()[path]
    text = parser.format_help()
    assert text.isascii(), "an ASCII terminal must be able to print the help"
    assert parser.description, f"llmgine {path} has no description"
    for action in _arguments(parser):
        assert action.help, f"{action.dest} has no help"
        assert len(action.help) > 20, f"{action.dest}: {action.help!r} says too little"
        takes_default = action.option_strings and not isinstance(action, argparse._VersionAction)
        if takes_default:
            assert "(default" in action.help, f"{action.option_strings}: {action.help!r}"


def test_trace_help_explains_the_program_and_gives_an_example() -> None:
    text = subprocess.run(
        [sys.executable, "-m", "llmgine.cli", "trace", "-h"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert text.startswith(
        "usage: llmgine trace [-h] [--only PATTERN] [--depth N] -- program [args...]\n"
    )
    assert "Run a program with LLMGINE_TRACE=1" in text
    assert "register_handlers()" in text  # the trap: the program must install the tracer
    assert "  program [args...]  the program to run and its arguments, after --" in text
    assert "LLMGINE_TRACE_ONLY" in text
    assert "LLMGINE_TRACE_DEPTH" in text
    assert "examples:\n  llmgine trace -- python app.py\n" in text


@pytest.mark.usefixtures("no_installed_plugins")
def test_the_top_level_help_names_the_commands_without_markup(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main([]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: llmgine [-h] [--version] COMMAND ...\n\nThe llmgine command")
    for name in CORE:
        assert f"\n    {name}" in text
    assert "Run 'llmgine COMMAND -h' for the options of a command." in text
    assert "``" not in text
