"""A tour of llmgine's message bus: run it with ``python3 dev.py example``.

Each section prints what happens. Only the core is needed: the resource commands
are handled by the llmgine-resources plugin when it is installed, and by a small
stand-in defined below when it is not.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from typing import Any

from llmgine.messages import (
    AsyncHandlerError,
    CommandHandlerNotFound,
    DuplicateHandlerError,
    EventCascadeError,
    MessageBus,
    NoActiveScopeError,
    SubscriberError,
)
from llmgine.messages.bus import message_bus
from llmgine.messages.commands import Command, CreateResourceCommand, UpdateResourceCommand
from llmgine.messages.events import (
    Event,
    ResourceCreatedEvent,
    ResourceEvent,
    ResourceUpdatedEvent,
)
from llmgine.messages.handlers import register_handlers


def section(title: str) -> None:
    print(f"\n== {title} ==")


class OneLineErrors(logging.Formatter):
    """Log subscriber failures as one line each instead of a full traceback."""

    def formatException(self, ei: Any) -> str:
        return f"    ({ei[0].__name__}: {ei[1]})"


# The resource commands: the plugin's handlers, or a stand-in -------------------


def use_stand_in_resource_handlers(bus: MessageBus) -> None:
    """Handle create and update in memory (only used if no plugin handles them)."""
    store: dict[str, dict[str, Any]] = {}

    def save(command: CreateResourceCommand | UpdateResourceCommand) -> str:
        is_new = isinstance(command, CreateResourceCommand)
        resource_id = f"res_{len(store) + 1}" if is_new else command.resource_id
        store[resource_id] = dict(command.resource_data)
        event = ResourceCreatedEvent if is_new else ResourceUpdatedEvent
        message_bus.add_pending_event(
            event(resource_id, command.resource_type, resource_data=command.resource_data)
        )
        return resource_id

    bus.register_command(CreateResourceCommand, save, source="example stand-in")
    bus.register_command(UpdateResourceCommand, save, source="example stand-in")


# Messages of our own (a @dataclass subclass works, as in the seed) ----------------


@dataclass
class PlaceOrder(Command[str]):
    item: str
    quantity: int


@dataclass
class ShipOrder(Command[None]):
    order_id: str


@dataclass
class OrderPlaced(Event):
    event_type = "order.placed"
    order_id: str
    item: str


@dataclass
class OrderShipped(Event):
    event_type = "order.shipped"
    order_id: str


def handle_place_order(command: PlaceOrder) -> str:
    order_id = f"order-{command.item}"
    print(f"  handler: placing {command.quantity} x {command.item}")
    message_bus.add_pending_event(OrderPlaced(order_id=order_id, item=command.item))
    print("  handler: queued OrderPlaced (not published yet)")
    # a nested dispatch is its own unit: its events go out before it returns here
    message_bus.dispatch(ShipOrder(order_id=order_id))
    print("  handler: back from the nested ShipOrder dispatch")
    return order_id


#: command id -> a readable label, to print the correlation chain
labels: dict[str, str] = {}


def handle_ship_order(command: ShipOrder) -> None:
    labels[command.command_id] = "ShipOrder command"
    print(f"  nested handler: shipping {command.order_id}")
    message_bus.add_pending_event(OrderShipped(order_id=command.order_id))


def main() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(OneLineErrors("  [log] %(levelname)s %(message)s"))
    logging.getLogger("llmgine").addHandler(handler)

    section("1. Register handlers")
    register_handlers()  # loads installed plugins onto message_bus
    if CreateResourceCommand in message_bus.command_handlers():
        name, source = message_bus.command_handlers()[CreateResourceCommand]
        print(f"resource commands handled by {name} ({source})")
    else:
        use_stand_in_resource_handlers(message_bus)
        print("no plugin handles the resource commands: using the example's stand-in")
    message_bus.register_command(PlaceOrder, handle_place_order)
    message_bus.register_command(ShipOrder, handle_ship_order)
    print("registered PlaceOrder and ShipOrder")

    section("2. Subscribe by name, by class and by pattern")
    message_bus.subscribe_event(
        "resource.created", lambda e: print(f"  by name 'resource.created': {e.resource_id}")
    )
    message_bus.subscribe_event(
        ResourceEvent, lambda e: print(f"  by class ResourceEvent: {e.event_type}")
    )
    message_bus.subscribe_event(
        "order.*", lambda e: print(f"  by pattern 'order.*': {e.event_type}")
    )
    errors = message_bus.subscribe_event(
        "system.*.error", lambda e: print(f"  by pattern 'system.*.error': {e.message}")
    )
    keys = [
        s.key.__name__ if isinstance(s.key, type) else repr(s.key)
        for s in message_bus.subscriptions
    ]
    print("subscriptions:", ", ".join(keys))

    section("3. Dispatch a command; its queued events are published after it succeeds")
    resource_id = message_bus.dispatch(
        CreateResourceCommand(resource_type="note", resource_data={"text": "hello"})
    )
    print(f"dispatch returned resource id: {resource_id}")

    section("4. Pending events, nested dispatch, correlation and causation")
    chain: list[Event] = []
    command = PlaceOrder(item="book", quantity=2)
    labels[command.command_id] = "PlaceOrder command"
    with message_bus.subscribe_event("*", chain.append):
        order_id = message_bus.dispatch(command)
    print(f"dispatch returned {order_id}; events in publish order:")
    for event in chain:
        labels[event.event_id] = f"{event.event_type} event"
        cause = labels.get(event.causation_id or "", event.causation_id)
        print(f"  {event.event_type:14} correlation={event.correlation_id}  caused by: {cause}")
    same = {e.correlation_id for e in chain} == {command.command_id}
    print(f"every correlation_id is the PlaceOrder command's id ({command.command_id}): {same}")

    section("5. A failing subscriber does not stop the others")

    def broken(event: Event) -> None:
        raise RuntimeError("this subscriber is broken")

    with message_bus.subscribe_event("order.placed", broken):
        message_bus.emit(OrderPlaced(order_id="order-x", item="x"))
    print("emit returned normally; the failure was logged and reported as system.bus.error")

    section("6. Strict mode (for tests) raises after all subscribers ran")
    strict = MessageBus.isolated(strict=True)
    strict.subscribe_event("order.placed", broken)
    strict.subscribe_event("order.placed", lambda e: print("  the next subscriber still ran"))
    try:
        strict.emit(OrderPlaced(order_id="order-y", item="y"))
    except SubscriberError as exc:
        print(f"SubscriberError: {exc}")

    section("7. Async: dispatch_async and emit_async, subscribers run concurrently")
    asyncio.run(async_tour(resource_id))

    section("8. An isolated bus shares nothing with message_bus")
    isolated = MessageBus.isolated()

    def place_on_isolated(command: PlaceOrder) -> str:
        # written against the global bus, yet it queues into this isolated dispatch
        message_bus.add_pending_event(OrderPlaced(order_id="iso-1", item=command.item))
        return "iso-1"

    isolated.register_command(PlaceOrder, place_on_isolated)
    isolated.subscribe_event(OrderPlaced, lambda e: print(f"  isolated bus got {e.event_type}"))
    leaked: list[Event] = []
    with message_bus.subscribe_event("*", leaked.append):
        isolated.dispatch(PlaceOrder(item="pen", quantity=1))
    print(f"events that reached message_bus's subscribers: {len(leaked)}")
    print(f"isolated bus: {isolated!r}")

    section("9. Errors name what is wrong and how to fix it")
    errors.unsubscribe()
    attempts: list[tuple[str, Any]] = [
        ("unknown command", lambda: isolated.dispatch(ShipOrder(order_id="o"))),
        ("second handler", lambda: message_bus.register_command(PlaceOrder, print)),
        ("queue outside a handler", lambda: message_bus.add_pending_event(OrderShipped("o"))),
        ("sync dispatch, async handler", sync_dispatch_of_async_handler),
        ("runaway cascade", runaway_cascade),
    ]
    for label, attempt in attempts:
        try:
            attempt()
        except (
            CommandHandlerNotFound,
            DuplicateHandlerError,
            NoActiveScopeError,
            AsyncHandlerError,
            EventCascadeError,
        ) as exc:
            print(f"{label}: {type(exc).__name__}: {exc}")

    section("10. Close: plugins flush what they hold")
    message_bus.on_close(lambda: print("  close callback 1 (added first, runs last)"))
    message_bus.on_close(lambda: print("  close callback 2 (added last, runs first)"))
    message_bus.close()
    print("message_bus closed")


async def async_tour(resource_id: str) -> None:
    log: list[str] = []

    def subscriber(name: str) -> Any:
        async def run(event: Event) -> None:
            log.append(f"{name} started")
            print(f"  {name} started for {event.event_type}")
            await asyncio.sleep(0.05)  # e.g. a network call
            log.append(f"{name} done")
            print(f"  {name} done")

        return run

    new_id = await message_bus.dispatch_async(
        CreateResourceCommand(resource_type="note", resource_data={"text": "async"})
    )
    print(f"dispatch_async returned resource id: {new_id}")
    with (
        message_bus.subscribe_event("resource.updated", subscriber("audit")),
        message_bus.subscribe_event(ResourceUpdatedEvent, subscriber("notify")),
    ):
        await message_bus.dispatch_async(
            UpdateResourceCommand(
                resource_id=resource_id, resource_type="note", resource_data={"text": "updated"}
            )
        )
        overlapped = log.index("notify started") < log.index("audit done")
        print(f"async subscribers ran concurrently: {overlapped}")
        log.clear()
        await message_bus.emit_async(
            ResourceUpdatedEvent(resource_id=resource_id, resource_type="note")
        )
        overlapped = log.index("notify started") < log.index("audit done")
        print(f"emit_async: async subscribers ran concurrently: {overlapped}")

    async def slow_handler(command: PlaceOrder) -> str:
        message_bus.add_pending_event(OrderPlaced(order_id="never", item=command.item))
        await asyncio.sleep(3600)
        return "never"

    bus = MessageBus.isolated()
    published: list[Event] = []
    bus.subscribe_event("*", published.append)
    bus.register_command(PlaceOrder, slow_handler)
    task = asyncio.create_task(bus.dispatch_async(PlaceOrder(item="slow", quantity=1)))
    await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print(f"cancelled dispatch_async published {len(published)} events")


def sync_dispatch_of_async_handler() -> None:
    bus = MessageBus.isolated()

    async def handler(command: ShipOrder) -> None: ...

    bus.register_command(ShipOrder, handler)
    bus.dispatch(ShipOrder(order_id="o"))


def runaway_cascade() -> None:
    bus = MessageBus.isolated(max_cascade_depth=10)
    bus.subscribe_event(OrderShipped, lambda e: bus.add_pending_event(OrderShipped(e.order_id)))
    bus.emit(OrderShipped(order_id="loop"))


if __name__ == "__main__":
    main()
