"""The command handlers of one bus, and the cache of which handler each class resolves to.

A session (``bus.session()``) may have handlers of its own. A command class that no
session handles resolves to the bus's handler, as if sessions did not exist: its
dispatch pays nothing for them. A class that some session handles (itself or a base)
resolves to a :class:`SessionRouter`, which picks the handler of the command's session
(``command.session_id``, stamped before the handler runs) and falls back to the bus's.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from ._naming import callable_name, is_async_callable, type_name
from .commands import Command
from .errors import AsyncHandlerError, CommandHandlerNotFound, DuplicateHandlerError

if TYPE_CHECKING:
    from ._middleware import MiddlewareStack

__all__ = ["Handler", "HandlerTable", "SessionHandlers", "SessionRouter"]

#: command type -> session id -> that session's own handler of the type
SessionHandlers = dict[type, dict[str, "Handler"]]


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

    __slots__ = ("handlers", "lock", "resolved", "session_handlers")

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.handlers: dict[type, Handler] = {}
        self.resolved: dict[type, Handler] = {}
        #: the sessions' own handlers; a type's inner dict is changed in place (routers
        #: read it), and the type leaves this dict when its last session handler goes
        self.session_handlers: SessionHandlers = {}

    def invalidate(self) -> None:
        """Forget every resolved handler (after a handler or the middleware changed)."""
        self.resolved = {}

    def forget(self, command_types: list[type]) -> None:
        """Forget the resolved handlers of ``command_types`` and their subclasses only
        (after a session handler changed): other types keep theirs."""
        # A copy first (made in one step): dispatches in other threads add to the cache
        # meanwhile, and iterating it as it grows would raise.
        kept = self.resolved.copy()
        self.resolved = {
            cls: entry for cls, entry in kept.items() if not issubclass(cls, tuple(command_types))
        }

    def add(self, command_type: object, handler: Callable[[Any], Any], source: str | None) -> None:
        """Register ``handler``; raises :class:`DuplicateHandlerError` if the type has one."""
        command_type, new = _checked(command_type, handler, source)
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

    # A session's own handlers --------------------------------------------------------

    def add_session(
        self,
        session_id: str,
        command_type: object,
        handler: Callable[[Any], Any],
        source: str | None,
    ) -> None:
        """Register ``handler`` for session ``session_id``'s commands of ``command_type``;
        raises :class:`DuplicateHandlerError` if that session has one already."""
        command_type, new = _checked(command_type, handler, source)
        with self.lock:
            own = self.session_handlers.setdefault(command_type, {})
            old = own.get(session_id)
            if old is not None:
                raise DuplicateHandlerError(
                    f"command {type_name(command_type)} already has a handler in session "
                    f"{session_id!r}, {old.describe()}; cannot also register {new.describe()}. "
                    "A session has at most one handler per command type (its own, which "
                    "takes precedence over the bus's)"
                )
            own[session_id] = new
            self.forget([command_type])

    def remove_session(self, session_id: str) -> None:
        """Remove every handler of session ``session_id``."""
        with self.lock:
            touched = [t for t, own in self.session_handlers.items() if session_id in own]
            for command_type in touched:
                own = self.session_handlers[command_type]
                del own[session_id]
                if not own:
                    del self.session_handlers[command_type]
            if touched:
                self.forget(touched)

    def session_state(self) -> SessionHandlers:
        """A copy of the sessions' handlers, for a snapshot."""
        with self.lock:
            return {t: dict(own) for t, own in self.session_handlers.items()}

    def replace_sessions(self, handlers: SessionHandlers) -> None:
        """Put the sessions' ``handlers`` in place of the current ones (a restore)."""
        with self.lock:
            self.session_handlers = {t: dict(own) for t, own in handlers.items() if own}
            self.invalidate()

    # Resolving ------------------------------------------------------------------------

    def resolve(self, command: object, middleware: MiddlewareStack) -> Handler:
        """The handler of ``command``'s class (its nearest registered base), wrapped in
        ``middleware`` and cached until :meth:`invalidate`; a :class:`SessionRouter`'s
        entry if some session handles the class."""
        cls = command.__class__
        if not isinstance(command, Command):
            raise TypeError(f"dispatch() needs a Command instance, got {command!r}")
        # Take the cache before reading the handlers: a registration racing with us
        # replaces the cache after changing the handlers, so a stale answer can only
        # land in a cache that is already discarded.
        resolved = self.resolved
        found = self._bus_handler(cls, middleware)
        sessions = self.session_handlers
        if sessions:
            bases = tuple(own for k in cls.__mro__ if (own := sessions.get(k)) is not None)
            if bases:
                found = SessionRouter(cls, bases, found, middleware).entry()
        if found is None:
            raise CommandHandlerNotFound(cls)
        resolved[cls] = found
        return found

    def _bus_handler(self, cls: type, middleware: MiddlewareStack) -> Handler | None:
        for klass in cls.__mro__:
            found = self.handlers.get(klass)
            if found is not None:
                return middleware.wrap_handler(found, cls)
        return None


class SessionRouter:
    """What a command class that some session handles resolves to: the handler of the
    command's session (its own for the class or the nearest base), else the bus's.

    Its entry is a plain handler on both paths: on ``dispatch_async`` it returns the
    coroutine of an ``async def`` handler, which the bus awaits; on ``dispatch`` it
    raises :class:`AsyncHandlerError` for one. Middleware wraps the handler it picks
    (each session's, wrapped on its first command), not the router itself.
    """

    __slots__ = ("bases", "chains", "command_class", "fallback", "middleware")

    def __init__(
        self,
        command_class: type,
        bases: tuple[dict[str, Handler], ...],
        fallback: Handler | None,
        middleware: MiddlewareStack,
    ) -> None:
        self.command_class = command_class
        #: the sessions' handlers of the class and its bases that have some, nearest first
        self.bases = bases
        #: the bus's handler (wrapped), or ``None``
        self.fallback = fallback
        self.middleware = middleware
        #: a session's handler -> it wrapped in the middleware (while there is some)
        self.chains: dict[Handler, Handler] = {}

    def entry(self) -> Handler:
        """The entry the handler table caches for the class."""
        entry = Handler(self.call, None)
        entry.ahandler = self.acall
        fallback = "no bus handler" if self.fallback is None else self.fallback.name
        entry.name = f"the session handlers of {type_name(self.command_class)} (else {fallback})"
        return entry

    def pick(self, command: Command[Any]) -> Handler:
        """The handler of ``command``: its session's, else the bus's."""
        session_id = command.session_id
        if session_id is not None:
            for own in self.bases:
                found = own.get(session_id)
                if found is not None:
                    if not self.middleware.command:
                        return found
                    chain = self.chains.get(found)
                    if chain is None:
                        chain = self.chains[found] = self.middleware.wrap_handler(
                            found, self.command_class
                        )
                    return chain
        if self.fallback is None:
            raise CommandHandlerNotFound(self.command_class, self.missing(session_id))
        return self.fallback

    def missing(self, session_id: str | None) -> str:
        """Why a command of session ``session_id`` found no handler (only sessions have
        some), and what to do: the hint of its :class:`CommandHandlerNotFound`."""
        # (copies: other threads may change them; this is the error path only)
        ids = sorted({sid for own in self.bases for sid in tuple(own)})
        some = ", ".join(repr(sid) for sid in ids[:3]) + (", ..." if len(ids) > 3 else "")
        handled = f"only sessions handle it ({some}), and the bus has no handler of it"
        if session_id is None:
            return (
                f"{handled}; this command has no session_id: it was dispatched outside any "
                "session, e.g. in a plain thread or a thread pool's worker "
                "(loop.run_in_executor), which start with an empty context. Dispatch it with "
                "session.dispatch(), run the call in a copy of the context "
                "(contextvars.copy_context().run), or register a handler on the bus"
            )
        return (
            f"{handled}; session {session_id!r} has none: register one with its "
            "session.register_command(), or one on the bus with message_bus.register_command()"
        )

    def call(self, command: Command[Any]) -> Any:
        """Run the handler (``dispatch``)."""
        entry = self.pick(command)
        if entry.is_async:
            where = f"session {command.session_id!r}" if entry is not self.fallback else "the bus"
            raise AsyncHandlerError(
                f"handler {entry.name} of {type_name(command.__class__)} (in {where}) is async; "
                "use 'await message_bus.dispatch_async(command)'"
            )
        return entry.handler(command)

    def acall(self, command: Command[Any]) -> Any:
        """Run the handler (``dispatch_async``): its coroutine, if it returns one."""
        entry = self.pick(command)
        result = entry.ahandler(command)
        if entry.is_async and result.__class__ is not CoroutineType:
            return _awaited(result)  # (an awaitable the bus would not recognise)
        return result


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _checked(
    command_type: object, handler: Callable[[Any], Any], source: str | None
) -> tuple[type, Handler]:
    """The type and ``handler``'s entry, once both are what registration needs."""
    if not (isinstance(command_type, type) and issubclass(command_type, Command)):
        raise TypeError(f"register_command() needs a Command subclass, got {command_type!r}")
    if not callable(handler):
        raise TypeError(f"handler for {type_name(command_type)} must be callable, got {handler!r}")
    return command_type, Handler(handler, source)
