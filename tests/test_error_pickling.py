"""llmgine's exceptions survive pickling (a process pool's worker sends them back so),
with their message and attributes; every exception class the core defines is covered."""

from __future__ import annotations

import importlib
import pickle
import pkgutil

import llmgine
import pytest
from llmgine._scaffold import ScaffoldError
from llmgine.messages.errors import (
    AsyncHandlerError,
    BackgroundError,
    BackgroundOverflowError,
    CommandHandlerNotFound,
    DuplicateHandlerError,
    EventCascadeError,
    FieldError,
    InvalidPatternError,
    MessageBusException,
    MessageValidationError,
    NoActiveScopeError,
    SessionError,
    SubscriberBaseExceptionError,
    SubscriberError,
)
from llmgine.messages.events import ResourceDeletedEvent
from llmgine.middleware import HandlerTimeoutError
from llmgine.plugins import UnknownPluginNameWarning
from llmgine.plugins.errors import IncompatiblePluginError, PluginLoadError, WireNameClash
from llmgine.tools import ToolboxError


class Unhandled:
    """A command class with no handler (module level, so that pickle finds it)."""


def failed_subscribers() -> SubscriberError:
    event = ResourceDeletedEvent(resource_id="r", resource_type="t")
    # with what the bus attaches for itself: subscribers whose handlers need not pickle
    return SubscriberError(
        event,
        [("app.on_deleted", ValueError("boom"))],
        failed=[(object(), ValueError("boom"))],  # type: ignore[list-item]
    )


ERRORS: list[BaseException] = [
    MessageBusException("m"),
    CommandHandlerNotFound(Unhandled),
    DuplicateHandlerError("two handlers"),
    InvalidPatternError("bad pattern"),
    NoActiveScopeError("no scope"),
    SessionError("session 's' is closed"),
    AsyncHandlerError("async"),
    BackgroundError("would wait for itself"),
    BackgroundOverflowError("dropped"),
    EventCascadeError("too deep"),
    MessageValidationError(
        ResourceDeletedEvent, [FieldError("resource_id", "expected string, got 3")]
    ),
    failed_subscribers(),
    SubscriberBaseExceptionError("app.on_deleted", GeneratorExit()),
    PluginLoadError("plugin 'p' failed", plugin="p", distribution="llmgine-p"),
    IncompatiblePluginError("plugin 'q' needs llmgine>=9", plugin="q"),
    HandlerTimeoutError("slow"),
    WireNameClash("wire name 'a' is claimed twice"),
    ScaffoldError("bad name"),
    ToolboxError("tool name 'a b' of app.AB must be 1 to 64 letters, ..."),
    UnknownPluginNameWarning("LLMGINE_LOAD_PLUGINS names 'resourcs', which is not ..."),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: type(error).__name__)
def test_errors_pickle_with_their_message_and_attributes(error: BaseException) -> None:
    twin = pickle.loads(pickle.dumps(error))
    assert type(twin) is type(error)
    assert str(twin) == str(error)
    public = {k: v for k, v in vars(error).items() if not k.startswith("_")}
    assert {k: v for k, v in vars(twin).items() if not k.startswith("_")}.keys() == public.keys()
    for name, value in public.items():
        if name == "event":  # a message pickles as a copy with the same id
            assert twin.event.event_id == value.event_id
        else:
            assert getattr(twin, name) == value


def test_a_subscriber_error_keeps_its_exceptions_but_not_the_buss_subscribers() -> None:
    twin = pickle.loads(pickle.dumps(failed_subscribers()))
    assert twin.subscribers == ("app.on_deleted",)
    assert [type(e) for e in twin.exceptions] == [ValueError]
    assert str(twin.exceptions[0]) == "boom"
    assert twin._failures == ()


def test_every_exception_class_of_the_core_is_covered() -> None:
    defined = set()
    for module in pkgutil.walk_packages(llmgine.__path__, "llmgine."):
        for value in vars(importlib.import_module(module.name)).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__.startswith("llmgine")
            ):
                defined.add(value)
    assert defined - {type(e) for e in ERRORS} == set()
