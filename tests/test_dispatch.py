"""Dispatching commands: handler lookup, results, errors, registration."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from llmgine.messages import CommandHandlerNotFound, DuplicateHandlerError, MessageBusException
from llmgine.messages.bus import MessageBus, message_bus
from llmgine.messages.commands import Command, CreateResourceCommand, DeleteResourceCommand


@dataclasses.dataclass
class Base(Command[str]):
    name: str


@dataclasses.dataclass
class Child(Base):
    pass


@dataclasses.dataclass
class GrandChild(Child):
    pass


class HandlerError(Exception):
    pass


def handle_base(command: Base) -> str:
    return f"base:{command.name}"


def handle_child(command: Base) -> str:
    return f"child:{command.name}"


def test_dispatch_returns_the_handlers_value(bus: MessageBus) -> None:
    bus.register_command(CreateResourceCommand, lambda c: f"id-{c.resource_type}")
    assert bus.dispatch(CreateResourceCommand(resource_type="doc", resource_data={})) == "id-doc"


def test_handler_is_found_by_the_nearest_registered_base(bus: MessageBus) -> None:
    bus.register_command(Base, handle_base)
    assert bus.dispatch(GrandChild(name="g")) == "base:g"
    bus.register_command(Child, handle_child)
    # registering a nearer base must take effect even after the lookup was cached
    assert bus.dispatch(GrandChild(name="g")) == "child:g"
    assert bus.dispatch(Base(name="b")) == "base:b"


def test_unregister_removes_the_handler_and_its_cached_lookups(bus: MessageBus) -> None:
    bus.register_command(Base, handle_base)
    assert bus.dispatch(Child(name="c")) == "base:c"
    bus.unregister_command(Base)
    with pytest.raises(CommandHandlerNotFound):
        bus.dispatch(Child(name="c"))
    with pytest.raises(CommandHandlerNotFound, match="Base"):
        bus.unregister_command(Base)


def test_missing_handler_raises_naming_the_command(bus: MessageBus) -> None:
    with pytest.raises(CommandHandlerNotFound, match=r"test_dispatch\.Child") as info:
        bus.dispatch(Child(name="x"))
    assert info.value.command_type is Child
    assert isinstance(info.value, MessageBusException)
    assert "register_command" in str(info.value)


def test_second_handler_raises_naming_both(bus: MessageBus) -> None:
    bus.register_command(Base, handle_base, source="plugin 'first'")
    with pytest.raises(DuplicateHandlerError) as info:
        bus.register_command(Base, handle_child, source="plugin 'second'")
    message = str(info.value)
    assert "handle_base" in message
    assert "plugin 'first'" in message
    assert "handle_child" in message
    assert "plugin 'second'" in message
    assert bus.dispatch(Base(name="b")) == "base:b"  # the first one stays


def test_a_subclass_may_have_its_own_handler_beside_its_base(bus: MessageBus) -> None:
    bus.register_command(Base, handle_base)
    bus.register_command(Child, handle_child)
    assert bus.command_handlers() == {
        Base: (handle_base.__module__ + ".handle_base", None),
        Child: (handle_child.__module__ + ".handle_child", None),
    }


def test_handler_exception_reaches_the_caller_unchanged(bus: MessageBus) -> None:
    error = HandlerError("nope")

    def fail(command: Base) -> str:
        raise error

    bus.register_command(Base, fail)
    with pytest.raises(HandlerError) as info:
        bus.dispatch(Base(name="b"))
    assert info.value is error


def test_events_of_a_failed_handler_are_discarded_not_leaked(bus: MessageBus) -> None:
    from llmgine.messages.events import ResourceDeletedEvent

    published: list[str] = []
    bus.subscribe_event("*", lambda e: published.append(e.resource_id))

    def fail(command: Base) -> str:
        bus.add_pending_event(ResourceDeletedEvent(resource_id="lost", resource_type="t"))
        raise HandlerError

    def succeed(command: DeleteResourceCommand) -> None:
        bus.add_pending_event(ResourceDeletedEvent(resource_id="kept", resource_type="t"))

    bus.register_command(Base, fail)
    bus.register_command(DeleteResourceCommand, succeed)
    with pytest.raises(HandlerError):
        bus.dispatch(Base(name="b"))
    assert published == []
    bus.dispatch(DeleteResourceCommand(resource_id="kept", resource_type="t"))
    assert published == ["kept"]  # the failed dispatch's event never shows up later


@pytest.mark.parametrize("bad", ["not a command", 42, None])
def test_dispatch_rejects_non_commands(bus: MessageBus, bad: object) -> None:
    with pytest.raises(TypeError, match="Command instance"):
        bus.dispatch(bad)  # type: ignore[arg-type]


def test_register_command_rejects_bad_arguments(bus: MessageBus) -> None:
    with pytest.raises(TypeError, match="Command subclass"):
        bus.register_command(str, handle_base)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="must be callable"):
        bus.register_command(Base, "handle_base")  # type: ignore[arg-type]


def test_message_bus_is_a_singleton_and_isolated_buses_are_not() -> None:
    assert MessageBus() is message_bus
    assert MessageBus() is MessageBus()
    one, two = MessageBus.isolated(), MessageBus.isolated()
    assert one is not two
    assert one is not message_bus
    one.register_command(Base, handle_base)
    assert Base not in two.command_handlers()
    assert Base not in message_bus.command_handlers()
    assert "isolated" in repr(one)
    assert "process-wide" in repr(message_bus)


def test_isolated_rejects_a_cascade_depth_below_one() -> None:
    with pytest.raises(ValueError, match="max_cascade_depth"):
        MessageBus.isolated(max_cascade_depth=0)


def test_reset_forgets_everything(bus: MessageBus) -> None:
    bus.register_command(Base, handle_base)
    bus.subscribe_event("*", print)
    bus.on_close(lambda: None)
    bus.reset()
    assert bus.command_handlers() == {}
    assert bus.subscriptions == ()
    bus.close()  # nothing left to run
    with pytest.raises(CommandHandlerNotFound):
        bus.dispatch(Base(name="b"))


def test_unregister_racing_with_a_lookup_never_leaves_a_stale_handler(bus: MessageBus) -> None:
    """A lookup that read the handler just before unregister_command must not cache it after."""
    looked_up, go_on = threading.Event(), threading.Event()
    dispatcher = threading.current_thread()

    class PausingDict(dict):  # type: ignore[type-arg]
        """Pauses the racing thread right after it read Base's handler."""

        def get(self, key, default=None):  # type: ignore[no-untyped-def]
            value = super().get(key, default)
            if key is Base and threading.current_thread() is not dispatcher:
                looked_up.set()
                go_on.wait(5)
            return value

    bus._handlers.handlers = PausingDict()
    bus.register_command(Base, handle_base)
    results: list[object] = []
    racer = threading.Thread(target=lambda: results.append(bus.dispatch(GrandChild(name="r"))))
    racer.start()
    assert looked_up.wait(5)
    bus.unregister_command(Base)  # while the racer holds the handler it read
    go_on.set()
    racer.join(5)
    assert results == ["base:r"]  # the racer's own dispatch began before the unregister
    with pytest.raises(CommandHandlerNotFound):
        bus.dispatch(GrandChild(name="after"))


def test_errors_name_callable_instances_and_partials(bus: MessageBus) -> None:
    import functools

    class Handler:
        def __call__(self, command: Base) -> str:
            return "instance"

    bus.register_command(Base, Handler())
    with pytest.raises(DuplicateHandlerError) as info:
        bus.register_command(Base, functools.partial(handle_child))
    assert (
        "test_dispatch.test_errors_name_callable_instances_and_partials.<locals>.Handler instance"
        in str(info.value)
    )
    assert "test_dispatch.handle_child" in str(info.value)
