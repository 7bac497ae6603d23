"""The command handlers of one bus, and the cache of which handler each class resolves to."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._naming import callable_name, is_async_callable, type_name
from .commands import Command
from .errors import CommandHandlerNotFound, DuplicateHandlerError

if TYPE_CHECKING:
    from ._middleware import MiddlewareStack

__all__ = ["Handler", "HandlerTable"]


class Handler:
    """A registered command handler as dispatch sees it."""

    __slots__ = ("ahandler", "handler", "is_async", "name", "source")

    def __init__(self, handler: Callable[[Any], Any], source: str | None) -> None:
        self.handler = handler
        #: what dispatch_async calls: ``handler`` unless async middleware wraps it
        self.ahandler = handler
        self.is_async = is_async_callable(handler)
        self.name = callable_name(handler)
        self.source = source

    def describe(self) -> str:
        """The handler's name and, if known, the plugin it came from (for error messages)."""
        return f"{self.name} (from {self.source})" if self.source else self.name

    def wrapped(self, handler: Callable[[Any], Any], ahandler: Callable[[Any], Any]) -> Handler:
        """A copy of this entry that calls ``handler`` (sync) and ``ahandler`` (async path)."""
        copy = Handler.__new__(Handler)
        copy.handler, copy.ahandler = handler, ahandler
        copy.is_async, copy.name, copy.source = self.is_async, self.name, self.source
        return copy


class HandlerTable:
    """One handler per command type, and ``resolved``: command class -> its wrapped handler.

    ``resolved`` is replaced (never emptied in place) by :meth:`invalidate`, the one
    way it is reset: a lookup racing with a registration then at worst fills a
    cache that was already thrown away.
    """

    __slots__ = ("handlers", "lock", "resolved")

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.handlers: dict[type, Handler] = {}
        self.resolved: dict[type, Handler] = {}

    def invalidate(self) -> None:
        """Forget every resolved handler (after a handler or the middleware changed)."""
        self.resolved = {}

    def add(self, command_type: object, handler: Callable[[Any], Any], source: str | None) -> None:
        """Register ``handler``; raises :class:`DuplicateHandlerError` if the type has one."""
        if not (isinstance(command_type, type) and issubclass(command_type, Command)):
            raise TypeError(f"register_command() needs a Command subclass, got {command_type!r}")
        if not callable(handler):
            raise TypeError(
                f"handler for {type_name(command_type)} must be callable, got {handler!r}"
            )
        new = Handler(handler, source)
        with self.lock:
            old = self.handlers.get(command_type)
            if old is not None:
                raise DuplicateHandlerError(
                    f"command {type_name(command_type)} already has a handler, {old.describe()}; "
                    f"cannot also register {new.describe()}. Each command type has exactly one "
                    "handler: unregister_command() the first, or disable one of the plugins"
                )
            self.handlers[command_type] = new
            self.invalidate()

    def remove(self, command_type: type) -> None:
        """Remove the handler of ``command_type``; raises ``CommandHandlerNotFound`` if none."""
        with self.lock:
            if self.handlers.pop(command_type, None) is None:
                raise CommandHandlerNotFound(command_type)
            self.invalidate()

    def replace(self, handlers: dict[type, Handler]) -> None:
        """Put ``handlers`` in place of the current ones (a snapshot's restore, a reset)."""
        with self.lock:
            self.handlers = dict(handlers)
            self.invalidate()

    def resolve(self, command: object, middleware: MiddlewareStack) -> Handler:
        """The handler of ``command``'s class (its nearest registered base), wrapped in
        ``middleware`` and cached until :meth:`invalidate`."""
        cls = command.__class__
        if not isinstance(command, Command):
            raise TypeError(f"dispatch() needs a Command instance, got {command!r}")
        # Take the cache before reading the handlers: a registration racing with us
        # replaces the cache after changing the handlers, so a stale answer can only
        # land in a cache that is already discarded.
        resolved = self.resolved
        for klass in cls.__mro__:
            found = self.handlers.get(klass)
            if found is not None:
                found = middleware.wrap_handler(found, cls)
                resolved[cls] = found
                return found
        raise CommandHandlerNotFound(cls)
