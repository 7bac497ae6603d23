"""Static types that tie a command class to its handler's argument and result.

``register_command(Greet, handle_greet)`` should be rejected by a type checker
when ``handle_greet`` does not accept a ``Greet`` or does not return what
``Greet`` (a ``Command[str]``) promises. Python's type system cannot say
"C is a subclass of Command[R]" with two type variables, so
:class:`CommandClass` reads both off the class object instead: C from calling
it (the constructor returns a C) and R from a method that exists for type
checkers only (``Command.__llmgine_result__``). Nothing here exists at run time
beyond the protocol classes themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar, overload

if TYPE_CHECKING:
    from ._background import Overflow

__all__ = ["CommandClass", "Handler", "Register", "Subscribe"]

C_co = TypeVar("C_co", covariant=True)
R_co = TypeVar("R_co", covariant=True)
C = TypeVar("C")
R = TypeVar("R")
E = TypeVar("E")


#: A handler of a ``C`` whose command promises ``R``: a function returning ``R``, or an
#: ``async def`` one (a coroutine function returning ``R``).
Handler: TypeAlias = Callable[[C], R] | Callable[[C], Awaitable[R]]


class CommandClass(Protocol[C_co, R_co]):
    """A command class whose instances are ``C_co`` and whose handler returns ``R_co``."""

    def __call__(self, *args: Any, **kwargs: Any) -> C_co: ...

    def __llmgine_result__(self, command: Any, /) -> R_co: ...


class Register(Protocol):
    """The ``register`` callback a plugin's ``register_commands`` hook receives.

    Annotate the hook's parameter with it (``def register_commands(register:
    Register) -> None``) and mypy checks every ``register(CommandType, handler)``.
    """

    def __call__(self, command_type: CommandClass[C, R], handler: Handler[C, R], /) -> None: ...


class Subscribe(Protocol):
    """The ``subscribe`` callback a plugin's ``register_subscribers`` hook receives.

    With an event class as key, mypy checks that the subscriber accepts that class;
    with a type name or pattern it cannot know the class, so any subscriber goes. The
    keywords are those of ``MessageBus.subscribe_event`` (``priority``: higher runs
    first; ``background`` and its ``max_pending``, ``overflow``, ``at_most_once``).
    """

    @overload
    def __call__(
        self,
        key: type[E],
        handler: Callable[[E], Any],
        /,
        *,
        priority: int = 0,
        background: bool = False,
        max_pending: int = 1000,
        overflow: Overflow = "wait",
        at_most_once: bool = False,
    ) -> None: ...

    @overload
    def __call__(
        self,
        key: str,
        handler: Callable[[Any], Any],
        /,
        *,
        priority: int = 0,
        background: bool = False,
        max_pending: int = 1000,
        overflow: Overflow = "wait",
        at_most_once: bool = False,
    ) -> None: ...
