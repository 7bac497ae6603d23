"""The seed's four usage snippets, run as written on the process-wide ``message_bus``.

The snippets are copied verbatim from the seed (its "Usage" section). The only
glue is what they leave open: a handler for the resource commands (a stand-in,
used only while no installed plugin handles them), an existing id in place of
the placeholder ``res_123``, and a ``some_event`` for the custom handler.
"""

from __future__ import annotations

import itertools
import sys
import types
from importlib.metadata import entry_points
from typing import Any

import pytest
from llmgine.messages.bus import MessageBus
from llmgine.messages.commands import (
    CreateResourceCommand,
    DeleteResourceCommand,
    UpdateResourceCommand,
)
from llmgine.messages.events import (
    ResourceCreatedEvent,
    ResourceDeletedEvent,
    ResourceUpdatedEvent,
    SystemEvent,
)
from llmgine.messages.handlers import register_handlers

BASIC = """
from llmgine.messages.bus import message_bus
from llmgine.messages.commands import CreateResourceCommand
from llmgine.messages.handlers import register_handlers

# Register all handlers
register_handlers()

# Create and dispatch a command
command = CreateResourceCommand(
    resource_type="example", 
    resource_data={"name": "Example Resource"}
)
resource_id = message_bus.dispatch(command)
"""  # noqa: W291 (verbatim: the seed has a trailing space)

ASYNC = """
import asyncio
from llmgine.messages.bus import message_bus
from llmgine.messages.commands import UpdateResourceCommand

async def update_resource():
    command = UpdateResourceCommand(
        resource_id="res_123",
        resource_type="example",
        resource_data={"name": "Updated Resource"}
    )
    await message_bus.dispatch_async(command)

asyncio.run(update_resource())
"""

CUSTOM_HANDLER = """
from llmgine.messages.bus import message_bus
from llmgine.messages.commands import Command
from dataclasses import dataclass

@dataclass
class CustomCommand(Command):
    parameter: str

def handle_custom_command(command):
    # Implement command handling logic
    print(f"Handling custom command with parameter: {command.parameter}")
    
    # Add events to the message bus if needed
    message_bus.add_pending_event(some_event)
    
    return True

# Register handler
message_bus.register_command(CustomCommand, handle_custom_command)
"""  # noqa: W293 (verbatim: the seed has whitespace on blank lines)

SUBSCRIBER = """
from llmgine.messages.bus import message_bus
from llmgine.messages.events import ResourceCreatedEvent

def on_resource_created(event: ResourceCreatedEvent):
    print(f"Resource created: {event.resource_id}")

# Subscribe to event
message_bus.subscribe_event("resource.created", on_resource_created)
"""


# Glue: stand-in resource handlers ------------------------------------------------
# Used only for the resource commands no installed plugin handles: once the
# llmgine-resources plugin is installed, register_handlers() registers its
# handlers and these are never registered.


def install_stand_in_resource_handlers(bus: MessageBus) -> None:
    """Register minimal in-memory handlers for the resource commands still unhandled."""
    store: dict[str, tuple[str, dict[str, Any]]] = {}
    ids = itertools.count(1)

    def create(command: CreateResourceCommand) -> str:
        resource_id = f"res_{next(ids)}"
        store[resource_id] = (command.resource_type, dict(command.resource_data))
        bus.add_pending_event(
            ResourceCreatedEvent(
                resource_id=resource_id,
                resource_type=command.resource_type,
                resource_data=command.resource_data,
            )
        )
        return resource_id

    def update(command: UpdateResourceCommand) -> None:
        if command.resource_id not in store:
            raise KeyError(f"no resource {command.resource_id!r}")
        store[command.resource_id] = (command.resource_type, dict(command.resource_data))
        bus.add_pending_event(
            ResourceUpdatedEvent(
                resource_id=command.resource_id,
                resource_type=command.resource_type,
                resource_data=command.resource_data,
            )
        )

    def delete(command: DeleteResourceCommand) -> None:
        del store[command.resource_id]
        bus.add_pending_event(
            ResourceDeletedEvent(
                resource_id=command.resource_id, resource_type=command.resource_type
            )
        )

    handled = bus.command_handlers()
    for command_type, handler in (
        (CreateResourceCommand, create),
        (UpdateResourceCommand, update),
        (DeleteResourceCommand, delete),
    ):
        if command_type not in handled:
            bus.register_command(command_type, handler, source="test stand-in")


@pytest.fixture
def seeded_bus(global_bus: MessageBus) -> MessageBus:
    """The global bus with installed plugins registered, plus stand-ins for what is missing."""
    register_handlers()
    install_stand_in_resource_handlers(global_bus)
    return global_bus


def run_snippet(code: str, **glue: Any) -> dict[str, Any]:
    """Run ``code`` as the body of a module ``seed_snippet``, as if it were a user's file."""
    module = types.ModuleType("seed_snippet")
    module.__dict__.update(glue)
    saved = sys.modules.get(module.__name__)
    sys.modules[module.__name__] = module  # as for an imported module (dataclass looks it up)
    try:
        # dont_inherit: not this file's ``from __future__ import annotations``
        exec(compile(code, "<seed snippet>", "exec", dont_inherit=True), module.__dict__)
    finally:
        if saved is None:
            del sys.modules[module.__name__]
        else:
            sys.modules[module.__name__] = saved
    return module.__dict__


def record_errors(bus: MessageBus) -> list[SystemEvent]:
    errors: list[SystemEvent] = []
    bus.subscribe_event("system.*.error", errors.append)
    return errors


def test_basic_usage(seeded_bus: MessageBus) -> None:
    created: list[ResourceCreatedEvent] = []
    seeded_bus.subscribe_event(ResourceCreatedEvent, created.append)
    errors = record_errors(seeded_bus)
    namespace = run_snippet(BASIC)
    resource_id = namespace["resource_id"]
    assert isinstance(resource_id, str)
    assert resource_id
    [event] = created
    assert event.resource_id == resource_id
    assert event.resource_type == "example"
    assert errors == []


def test_asynchronous_usage(seeded_bus: MessageBus) -> None:
    resource_id = seeded_bus.dispatch(
        CreateResourceCommand(resource_type="example", resource_data={"name": "Example"})
    )
    updated: list[ResourceUpdatedEvent] = []
    seeded_bus.subscribe_event("resource.updated", updated.append)
    errors = record_errors(seeded_bus)
    assert '"res_123"' in ASYNC
    run_snippet(ASYNC.replace('"res_123"', repr(resource_id)))
    [event] = updated
    assert event.resource_id == resource_id
    assert dict(event.resource_data) == {"name": "Updated Resource"}
    assert errors == []


def test_custom_command_handlers(
    seeded_bus: MessageBus, capsys: pytest.CaptureFixture[str]
) -> None:
    some_event = SystemEvent(component="example", severity="info", message="custom ran")
    published: list[SystemEvent] = []
    seeded_bus.subscribe_event("system.example.info", published.append)
    namespace = run_snippet(CUSTOM_HANDLER, some_event=some_event)
    custom_command = namespace["CustomCommand"]
    command = custom_command(parameter="hello")
    assert command.command_id
    assert seeded_bus.dispatch(command) is True
    assert capsys.readouterr().out == "Handling custom command with parameter: hello\n"
    assert published == [some_event]
    assert some_event.correlation_id == command.command_id


def test_event_subscribers(seeded_bus: MessageBus, capsys: pytest.CaptureFixture[str]) -> None:
    run_snippet(SUBSCRIBER)
    resource_id = seeded_bus.dispatch(
        CreateResourceCommand(resource_type="example", resource_data={"name": "Example"})
    )
    assert capsys.readouterr().out == f"Resource created: {resource_id}\n"


def test_all_four_snippets_in_one_program(
    seeded_bus: MessageBus, capsys: pytest.CaptureFixture[str]
) -> None:
    """In the seed's order, sharing one namespace, as if pasted into one file."""
    some_event = SystemEvent(component="example", severity="info", message="custom ran")
    errors = record_errors(seeded_bus)
    namespace = run_snippet(SUBSCRIBER)  # subscribe first so the basic snippet's event shows
    namespace = run_snippet(BASIC, **namespace)
    resource_id = namespace["resource_id"]
    run_snippet(ASYNC.replace('"res_123"', repr(resource_id)), **namespace)
    namespace = run_snippet(CUSTOM_HANDLER, some_event=some_event, **namespace)
    assert seeded_bus.dispatch(namespace["CustomCommand"](parameter="p")) is True
    assert capsys.readouterr().out.splitlines() == [
        f"Resource created: {resource_id}",
        "Handling custom command with parameter: p",
    ]
    assert errors == []


def test_the_stand_in_handlers_give_way_to_an_installed_plugin(seeded_bus: MessageBus) -> None:
    """With a plugin that handles the resource commands installed, the stand-ins are unused."""
    installed = {ep.name for ep in entry_points(group="llmgine.plugins")}
    expected = "plugin 'resources'" if "resources" in installed else "test stand-in"
    sources = {t: source for t, (_, source) in seeded_bus.command_handlers().items()}
    assert sources[CreateResourceCommand] == expected
    assert sources[UpdateResourceCommand] == expected
