"""Fixtures for the core's tests: isolated buses, and a clean process-wide bus."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from llmgine.messages.bus import MessageBus, message_bus
from llmgine.plugins import PluginHost, use_plugin_host

pytest_plugins = ["pytester"]

# A run started in the background of a non-interactive shell (`.ci/run &`) inherits SIGINT
# ignored, and so would every program the tests start; the tests that press Ctrl-C on one
# need it delivered. A handler, unlike "ignored", is not inherited: children get the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytest's own, with the ini setting pytest-asyncio (a test dependency, so loaded in
    the inner runs too) asks for, lest every inner run warn about it."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


@pytest.fixture
def bus() -> MessageBus:
    """A fresh bus that shares nothing with the process-wide one."""
    return MessageBus.isolated()


@pytest.fixture
def global_bus() -> Iterator[MessageBus]:
    """The process-wide ``message_bus``, emptied before and after the test.

    Plugin state is forgotten too, so ``register_handlers()`` registers again on
    the emptied bus in the next test that calls it.
    """
    message_bus.reset()
    with use_plugin_host(PluginHost()):
        yield message_bus
    message_bus.reset()


@pytest.fixture
def no_installed_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh plugin manager that discovers no installed plugin, forgotten after the test.

    Plugin objects come from ``register_plugin()``; a test loading an installed one
    sets ``LLMGINE_LOAD_PLUGINS`` to its name.
    """
    # No installed plugin may leak into these tests, whatever the environment has.
    monkeypatch.setenv("LLMGINE_LOAD_PLUGINS", "")
    monkeypatch.delenv("LLMGINE_DISABLE_PLUGINS", raising=False)
    with use_plugin_host(PluginHost()):
        yield


@pytest.fixture
def shipped(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh host that loads every installed plugin (the shipped ones), no transport set."""
    monkeypatch.delenv("LLMGINE_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("LLMGINE_DISABLE_PLUGINS", raising=False)
    for variable in list(os.environ):
        if variable == "LLMGINE_TRANSPORT" or variable.startswith("LLMGINE_REDIS_"):
            monkeypatch.delenv(variable)
    with use_plugin_host(PluginHost()):
        yield
