"""llmgine's pytest plugin: fixtures for testing hosts and plugins.

Installed with the core (entry point ``pytest11``), so every test suite in an
environment with llmgine gets these fixtures; none is autouse:

* ``llmgine_bus``: a fresh isolated bus in strict mode (a failing subscriber
  fails the test), closed after the test.
* ``llmgine_events``: an :class:`EventRecorder` of every event published on
  ``llmgine_bus`` during the test, with helpers to assert on them.
* ``llmgine_load_plugin``: ``llmgine_load_plugin(module_or_object)`` registers one
  plugin that is not installed on ``llmgine_bus`` (or ``bus=``), and nothing else;
  after the test it is shut down, taken off those buses and out of the plugin manager.
* ``llmgine_plugin_host``: a fresh :class:`~llmgine.plugins.PluginHost`, made the
  default host (the one ``register_handlers()`` uses) for the test.

Independently of the fixtures, the process-wide ``message_bus`` (handlers,
subscriptions, open sessions and their handlers, middleware, close callbacks,
settings, extensions such as which plugins are registered on it) is restored after
every test that changed it; the plugins the test started on it are shut down first.
A session the test entered and never left stops being the current one. A plugin's ``shutdown`` hook
runs once per ``startup``: if the test closed a bus itself, teardown does not run
it again. The snapshot is taken just before the test's first function-scoped
fixture is set up, so what session-, module- and class-scoped fixtures register
stays for the tests that share them.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar, overload

import pytest

from .messages._patterns import compile_pattern, is_pattern, validate_type_name
from .messages._scope import get_scope, set_scope
from .messages.bus import MessageBus, message_bus
from .messages.events import Event
from .plugins import PluginHost, get_plugin_host, use_plugin_host
from .plugins.errors import PluginLoadError

__all__ = ["EventRecorder", "LoadPlugin"]

E = TypeVar("E", bound=Event)

#: What selects events: an Event subclass, an exact type name, or a pattern (``"resource.*"``).
EventKey = type[Event] | str


def _selector(key: EventKey) -> Callable[[Event], bool]:
    if isinstance(key, type):
        if not issubclass(key, Event):
            raise TypeError(f"expected an Event subclass, a type name or a pattern, got {key!r}")
        return lambda event: isinstance(event, key)
    if not isinstance(key, str):
        raise TypeError(f"expected an Event subclass, a type name or a pattern, got {key!r}")
    if is_pattern(key):
        matches = compile_pattern(key)
        return lambda event: matches(event.event_type)
    validate_type_name(key)
    return lambda event: event.event_type == key


def _describe(key: EventKey) -> str:
    return key.__qualname__ if isinstance(key, type) else repr(key)


class EventRecorder:
    """Records every event published on a bus, in delivery order.

    ``EventRecorder.attach(bus)`` starts recording on any bus; the ``llmgine_events``
    fixture gives one attached to ``llmgine_bus``. Keys accepted by the helpers are
    an Event subclass (matching subclasses too), an exact type name, or a pattern.
    """

    def __init__(self) -> None:
        self.events: list[Event] = []

    @classmethod
    def attach(cls, bus: MessageBus) -> EventRecorder:
        """Return a recorder subscribed to every event on ``bus``."""
        recorder = cls()
        bus.subscribe_event("*", recorder.events.append)
        return recorder

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __getitem__(self, index: int) -> Event:
        return self.events[index]

    def __repr__(self) -> str:
        return f"<EventRecorder {self.types()}>"

    def clear(self) -> None:
        """Forget what was recorded so far."""
        self.events.clear()

    def types(self) -> list[str]:
        """The ``event_type`` of each recorded event, in order."""
        return [e.event_type for e in self.events]

    @overload
    def of(self, key: type[E]) -> list[E]: ...
    @overload
    def of(self, key: str) -> list[Event]: ...

    def of(self, key: EventKey) -> list[Any]:
        """The recorded events that ``key`` selects, in order."""
        selected = _selector(key)
        return [e for e in self.events if selected(e)]

    @overload
    def one(self, key: type[E]) -> E: ...
    @overload
    def one(self, key: str) -> Event: ...

    def one(self, key: EventKey) -> Any:
        """The single recorded event that ``key`` selects; fails if there are 0 or several."""
        found = self.of(key)
        if len(found) != 1:
            raise AssertionError(
                f"expected exactly one event matching {_describe(key)}, got {len(found)}; "
                f"recorded: {self.types()}"
            )
        return found[0]

    def by_correlation(self, correlation_id: str) -> list[Event]:
        """The recorded events of one chain (e.g. ``command.correlation_id``), in order."""
        return [e for e in self.events if e.correlation_id == correlation_id]

    def caused_by(self, message_id: str) -> list[Event]:
        """The recorded events whose direct cause is the command or event ``message_id``."""
        return [e for e in self.events if e.causation_id == message_id]

    def assert_order(self, *keys: EventKey) -> list[Event]:
        """Fail unless events matching ``keys`` were recorded in this order.

        Other events may come before, between and after them. Returns the events
        that matched, one per key.
        """
        selectors = [_selector(k) for k in keys]
        matched: list[Event] = []
        events = iter(self.events)
        for key, selected in zip(keys, selectors, strict=True):
            for event in events:
                if selected(event):
                    matched.append(event)
                    break
            else:
                done = ", ".join(_describe(k) for k in keys[: len(matched)]) or "nothing"
                raise AssertionError(
                    f"no event matching {_describe(key)} after {done}; recorded: {self.types()}"
                )
        return matched

    def assert_none(self, key: EventKey) -> None:
        """Fail if any recorded event matches ``key``."""
        found = self.of(key)
        if found:
            raise AssertionError(
                f"expected no event matching {_describe(key)}, got {[e.event_type for e in found]}"
            )


class LoadPlugin(Protocol):
    """The ``llmgine_load_plugin`` fixture: load one plugin object or module into a bus."""

    def __call__(
        self, plugin: object, name: str | None = None, *, bus: MessageBus | None = None
    ) -> str: ...


# Restoring the process-wide bus ---------------------------------------------------------

_SNAPSHOT = pytest.StashKey["_GlobalSnapshot"]()


class _GlobalSnapshot:
    """``message_bus``, and the plugins the default plugin host holds."""

    def __init__(self) -> None:
        self.bus = message_bus.snapshot()
        # A session entered and never left (``session.__enter__()`` without its exit)
        # would stay current in this thread's context, and stamp later tests' messages.
        self.scope = get_scope()
        self.host = get_plugin_host()
        self.registered = self.host.registered_on(message_bus)
        self.plugins = _plugin_names(self.host)

    def restore(self) -> None:
        # Plugins the test started on message_bus are shut down, as closing it would
        # (unless the test closed it: a plugin is shut down once per startup).
        if get_scope() is not self.scope:
            set_scope(self.scope)
        host = self.host
        added = [n for n in host.registered_on(message_bus) if n not in self.registered]
        try:
            _raise_first(host.stop(message_bus, added))
        finally:
            for name in added:  # (the host's record on the bus may predate the snapshot)
                host.remove_from(message_bus, name)
            if self.bus.changed():
                self.bus.restore()
            if host is get_plugin_host():  # (another host is the test's own: nothing to undo)
                self._forget_plugins()

    def _forget_plugins(self) -> None:
        host = self.host
        with host.lock:
            for name in _plugin_names(host) - self.plugins:
                info = host.info(name)
                # installed plugins found by discovery stay: a process discovers them once
                if info is None or info.distribution is None:
                    host.unregister_plugin(name)


def _plugin_names(host: PluginHost) -> set[str]:
    """The names of the plugins in ``host``'s plugin manager (blocked names left out)."""
    return {name for name, plugin in host.plugin_manager.list_name_plugin() if plugin is not None}


def _raise_first(errors: list[PluginLoadError]) -> None:
    if errors:
        raise errors[0]


def _snapshot_once(item: pytest.Item) -> None:
    if _SNAPSHOT not in item.stash:
        snapshot = item.stash[_SNAPSHOT] = _GlobalSnapshot()
        item.addfinalizer(snapshot.restore)


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> None:
    """Snapshot ``message_bus`` before a test's first function-scoped fixture is set up."""
    if fixturedef.scope == "function" and isinstance(request.node, pytest.Item):
        # Added before the fixture's own finalizer, so it runs after that fixture's teardown.
        _snapshot_once(request.node)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """Snapshot ``message_bus`` before a test that has no function-scoped fixture."""
    _snapshot_once(item)


# Fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def llmgine_bus() -> Iterator[MessageBus]:
    """A fresh isolated ``MessageBus`` in strict mode, closed (plugins shut down) afterwards."""
    bus = MessageBus.isolated(strict=True)
    yield bus
    # A loop of its own that is never made the thread's current loop: asyncio.run()
    # would unset the event loop a test suite (or pytest-asyncio) set for later tests.
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(bus.aclose())


@pytest.fixture
def llmgine_events(llmgine_bus: MessageBus) -> EventRecorder:
    """Every event published on ``llmgine_bus`` during the test (an :class:`EventRecorder`)."""
    return EventRecorder.attach(llmgine_bus)


_counter = itertools.count(1)


@pytest.fixture
def llmgine_load_plugin(llmgine_bus: MessageBus) -> Iterator[LoadPlugin]:
    """``llmgine_load_plugin(plugin, name=None, *, bus=None) -> name``: load one plugin.

    Registers a plugin module or object that need not be installed, then registers
    its commands, subscribers and middleware on ``llmgine_bus`` (or ``bus``) and runs
    its ``startup`` hook, exactly as ``register_handlers()`` would for an installed
    one; installed plugins are not loaded. After the test it is shut down, what it
    registered is removed from every bus it was loaded into, and it is removed from
    the plugin manager.
    """
    loaded: list[tuple[str, MessageBus]] = []
    added: list[str] = []  # plugins this fixture put into the plugin manager
    host = get_plugin_host()

    def load(plugin: object, name: str | None = None, *, bus: MessageBus | None = None) -> str:
        if name is None:
            base = getattr(plugin, "__name__", None) or type(plugin).__name__
            name = f"{base}-test{next(_counter)}"
        target = llmgine_bus if bus is None else bus
        pm = host.plugin_manager
        if pm.is_registered(plugin):  # loaded already (into another bus, or installed)
            registered = pm.get_name(plugin)
            assert registered is not None
        else:
            registered = host.register_plugin(plugin, name)
            added.append(registered)
        if registered not in host.registered_on(target):  # else someone else's registration
            loaded.append((registered, target))
            host.register_on(target, [registered], lenient=False)
        return registered

    yield load
    # Shut each plugin down now (unless the test closed the bus already): once it leaves
    # the plugin manager, closing the bus can't. Then take its handlers, subscribers and
    # middleware off every bus it was loaded into: a bus from bus= may outlive the test.
    errors: list[PluginLoadError] = []
    try:
        for bus in {id(bus): bus for _, bus in loaded}.values():
            ours = [name for name, target in loaded if target is bus]
            errors += host.stop(bus, ours)
            for name in ours:  # also those whose startup failed: their middleware slot
                host.remove_from(bus, name)
        _raise_first(errors)
    finally:
        for name in added:
            host.unregister_plugin(name)


@pytest.fixture
def llmgine_plugin_host() -> Iterator[PluginHost]:
    """A fresh :class:`~llmgine.plugins.PluginHost`, the default one during the test.

    ``register_handlers()``, ``register_plugin()`` and the other functions of
    :mod:`llmgine.plugins` use it, so the test starts from a host that has loaded
    nothing (installed plugins are discovered again on first use) and leaves the
    process's host as it was.
    """
    with use_plugin_host(PluginHost()) as host:
        yield host
