"""The catalogue of an installed application: its commands and events, their fields' JSON
Schema, and which plugin handles or subscribes to each (``llmgine schema`` prints it).

:func:`collect` loads the installed plugins, as ``llmgine plugins`` does, and gathers

* every class of the message catalogue (the core's and the plugins' ``register_messages``),
* every command type a plugin's ``register_commands`` registers, and every event class
  a plugin's ``register_subscribers`` subscribes to by class,

each with its JSON Schema (:func:`llmgine.messages.conversion.json_schema`), its wire
name if it has one, and the plugins that handle it (commands) or subscribe to it
(events: by its class or a base, by its type name, or by a pattern matching it); and,
from the ``describe_channels`` hook, the channels of the transports that are configured.
:meth:`Catalogue.to_json` is what ``llmgine schema --json`` prints.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .. import __version__
from ..messages._naming import type_name
from ..messages.bus import MessageBus, message_bus
from ..messages.commands import Command
from ..messages.events import Event
from ._manager import get_plugin_host
from ._on_bus import registrations
from .channels import TransportInfo
from .errors import PluginLoadError

if TYPE_CHECKING:
    from .host import PluginHost

__all__ = ["Catalogue", "MessageSchema", "PluginEntry", "collect"]

#: the hook that transports implement
HOOK = "describe_channels"


@attrs.frozen
class MessageSchema:
    """One command or event class of the application, as ``llmgine schema`` lists it.

    ``schema`` is the JSON Schema of its fields, or ``None`` with ``error`` saying why
    it could not be derived (or why the class, registered by reference, could not be
    imported: then ``kind`` is ``"unknown"`` and ``name`` is the reference).
    """

    #: ``"command"``, ``"event"`` or ``"unknown"`` (a reference that does not import)
    kind: str
    #: ``module.QualifiedName`` of the class
    name: str
    #: its name on transports (the message catalogue's), or ``None``
    wire_name: str | None = None
    #: who named it for transports, e.g. ``plugin 'billing' from acme-billing 1.0``
    registered_by: str | None = None
    #: an event class's type name (``None`` for commands, and for an event whose type
    #: name depends on the instance, as ``SystemEvent``'s does)
    event_type: str | None = None
    #: the plugins that register a handler for it (commands)
    handled_by: tuple[str, ...] = ()
    #: the plugins that subscribe to it (events)
    subscribed_by: tuple[str, ...] = ()
    #: JSON Schema (draft 2020-12) of its fields, without the meta fields
    schema: Mapping[str, Any] | None = None
    #: why ``schema`` is ``None``
    error: str | None = None
    #: the class itself (``None`` if it could not be imported); not in the JSON
    cls: type | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def description(self) -> str | None:
        """The class's description (from its docstring), as its schema has it."""
        found = (self.schema or {}).get("description")
        return found if isinstance(found, str) else None

    def to_json(self) -> dict[str, Any]:
        """This entry as JSON values (see :meth:`Catalogue.to_json`)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "wire_name": self.wire_name,
            "registered_by": self.registered_by,
            "event_type": self.event_type,
            "description": self.description,
            "handled_by": list(self.handled_by),
            "subscribed_by": list(self.subscribed_by),
            "schema": None if self.schema is None else dict(self.schema),
            "error": self.error,
        }


@attrs.frozen
class PluginEntry:
    """A plugin, with what it registers as text (the rows of ``llmgine plugins``, shortened)."""

    name: str
    distribution: str | None
    version: str | None
    #: ``"active"`` (loaded; it may be idle) or ``"error"``
    state: str
    error: str | None = None
    #: wire names it named for transports
    messages: tuple[str, ...] = ()
    #: command types it handles (``module.QualifiedName``)
    commands: tuple[str, ...] = ()
    #: its subscription keys: event classes, type names and patterns
    subscriptions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """This entry as JSON values."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.asdict(self).items()}


@attrs.frozen
class Catalogue:
    """What :func:`collect` found: messages (commands first, each kind by name), plugins
    (in load order) and the transports that described their channels."""

    messages: tuple[MessageSchema, ...]
    plugins: tuple[PluginEntry, ...]
    transports: tuple[TransportInfo, ...]
    #: the plugin whose ``describe_channels`` hook returned each transport, in order
    transport_plugins: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The catalogue as JSON values: what ``llmgine schema --json`` prints.

        ``{"llmgine": version, "messages": [...], "plugins": [...], "transports": [...]}``;
        docs/cli.md describes every key.
        """
        transports = [
            {"plugin": plugin, **attrs.asdict(info, value_serializer=_lists)}
            for plugin, info in zip(self.transport_plugins, self.transports, strict=True)
        ]
        return {
            "llmgine": __version__,
            "messages": [m.to_json() for m in self.messages],
            "plugins": [p.to_json() for p in self.plugins],
            "transports": transports,
        }


def _lists(_instance: Any, _field: Any, value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def collect(host: PluginHost | None = None, *, bus: MessageBus | None = None) -> Catalogue:
    """The catalogue of the application that ``host``'s plugins make up (default: the
    installed plugins, through the default host).

    Plugins that fail to load or to register are listed with their error and left
    out of the attribution (as ``llmgine plugins`` does). ``bus`` (default: the
    process-wide ``message_bus``) is the one whose transport is described: the
    ``describe_channels`` hook is called with it. A failure of that hook, or a result
    other than a :class:`~llmgine.plugins.TransportInfo` or ``None``, raises
    :class:`~llmgine.plugins.PluginLoadError` naming the plugin.
    """
    host = get_plugin_host() if host is None else host
    with warnings.catch_warnings():  # failures are listed instead
        warnings.simplefilter("ignore")
        infos = host.load_plugins(lenient=True)
    # One throwaway bus, never started, shared by the plugins as register_handlers()
    # would share one: a command two plugins handle is refused here too.
    throwaway = MessageBus.isolated()
    plugins: list[PluginEntry] = []
    commands: dict[type, list[str]] = {}  # command type -> plugins that handle it
    subscriptions: list[tuple[str, Any]] = []  # (plugin, Subscription)
    for info in infos:
        row = PluginEntry(info.name, info.distribution, info.version, "active", info.error)
        row = attrs.evolve(row, messages=info.messages)
        if info.error is not None:
            plugins.append(attrs.evolve(row, state="error"))
            continue
        try:
            done = registrations(host, info.name, throwaway)
        except PluginLoadError as exc:
            plugins.append(attrs.evolve(row, state="error", error=str(exc)))
            continue
        for command_type in done.command_types():
            commands.setdefault(command_type, []).append(info.name)
        subscriptions += [(info.name, s) for s in done.subscriptions()]
        registered, keys = done.described()
        plugins.append(attrs.evolve(row, commands=tuple(registered), subscriptions=tuple(keys)))
    messages, travelling = _catalogued(host)
    classes = {m.cls: m for m in messages if m.cls is not None}
    extra = [*commands, *(s.key for _, s in subscriptions if isinstance(s.key, type))]
    for cls in extra:
        if cls not in classes and cls is not Event:  # (Event itself: every event)
            classes[cls] = _entry(cls)
    entries = [m for m in messages if m.cls is None]
    for cls, entry in classes.items():
        if issubclass(cls, Command):
            # the bus runs a subclass with the handler of its nearest registered base
            base = next((b for b in cls.__mro__ if b in commands), None)
            entry = attrs.evolve(entry, handled_by=tuple(commands[base] if base else ()))
        else:
            entry = attrs.evolve(entry, subscribed_by=_subscribers(entry, subscriptions))
        entries.append(entry)
    order = {"command": 0, "event": 1}
    entries.sort(key=lambda m: (order.get(m.kind, 2), m.name))
    found = _transports(host, travelling, message_bus if bus is None else bus)
    return Catalogue(
        tuple(entries), tuple(plugins), tuple(t for _, t in found), tuple(p for p, _ in found)
    )


def _catalogued(host: PluginHost) -> tuple[list[MessageSchema], dict[str, type]]:
    """The message catalogue's entries, and its ``{wire name: class}`` of those that import."""
    catalog = host.catalog
    entries, travelling = [], {}
    for wire in catalog.wire_names():
        source = catalog.source_of(wire)
        try:
            cls = catalog.class_of(wire)
        except LookupError as exc:  # a reference that does not import: listed, not fatal
            reference = catalog.reference_of(wire) or wire
            entries.append(MessageSchema("unknown", reference, wire, source, error=str(exc)))
            continue
        if cls is not None:
            travelling[wire] = cls
            entries.append(attrs.evolve(_entry(cls), wire_name=wire, registered_by=source))
    return entries, travelling


def _entry(cls: type) -> MessageSchema:
    """``cls``'s entry: kind, name, type name and schema (or why there is none)."""
    from ..messages.conversion import json_schema  # (cattrs: for this command only)

    kind = "command" if issubclass(cls, Command) else "event"
    event_type = getattr(cls, "event_type", None) if kind == "event" else None
    schema: Mapping[str, Any] | None = None
    error = None
    try:
        schema = json_schema(cls)
    except Exception as exc:  # any class a plugin brings: say why, list the others
        error = f"no JSON Schema: {type(exc).__name__}: {exc}"
    event_type = event_type if isinstance(event_type, str) else None
    return MessageSchema(
        kind, type_name(cls), None, None, event_type, schema=schema, error=error, cls=cls
    )


def _subscribers(entry: MessageSchema, subscriptions: list[tuple[str, Any]]) -> tuple[str, ...]:
    """The plugins with a subscription that ``entry``'s events reach."""
    cls, name = entry.cls, entry.event_type
    found: dict[str, None] = {}
    for plugin, subscription in subscriptions:
        key = subscription.key
        if isinstance(key, type) or name is not None:
            reached = subscription.matches(cls, name or "")
        else:  # a type name decided per instance: only "every event" surely reaches it
            reached = key in ("*", "**")
        if reached:
            found[plugin] = None
    return tuple(found)


def _transports(
    host: PluginHost, travelling: Mapping[str, type], bus: MessageBus
) -> list[tuple[str, TransportInfo]]:
    """What the loaded plugins' ``describe_channels`` hooks return (``None`` left out)."""
    found = []
    for info in host.plugins():
        if info.error is not None or HOOK not in info.hooks:
            continue
        what = f"failed in its {HOOK} hook"
        described = host.guarded_call(info.name, HOOK, what, messages=travelling, bus=bus)
        if described is None:
            continue
        if not isinstance(described, TransportInfo):
            error = TypeError(f"it returned {described!r}, not a llmgine.plugins.TransportInfo")
            raise host.hook_error(info.name, what, error)
        found.append((info.name, described))
    return found
