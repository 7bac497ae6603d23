"""Commands: intentions to change the system's state. Each command type has one handler.

:class:`Command` is the base of every command. It is a plain class, not an attrs
or dataclass class, so that both ``@dataclass`` and attrs subclasses work; every
instance gets a unique ``command_id`` when it is created, whichever ``__init__``
its class has. ``Command[R]`` says that the command's handler returns ``R``, and
``dispatch`` is typed accordingly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Self, SupportsIndex, TypeVar

from . import _ids
from ._core_names import COMMAND_NAMES
from ._fields import refuse_bus_fields, slot_setter
from ._lazy import lazy_names
from ._reduce import keep_slots

if TYPE_CHECKING:
    # The concrete core commands, built on first use: _core_names lists them.
    from ._core_commands import *  # noqa: F403

R_co = TypeVar("R_co", covariant=True)


class Command(Generic[R_co]):
    """Base class of every command; ``R_co`` is the type its handler returns.

    Attributes set on every instance (the bus fills the last three when the command
    is dispatched, unless they were set already):

    * ``command_id``: unique string id.
    * ``correlation_id``: id of the first message of the chain this one belongs to.
    * ``causation_id``: id of the message whose handling dispatched this one (``None`` at the top).
    * ``session_id``: id of the session it was dispatched in (``None`` outside sessions;
      see :meth:`MessageBus.session <llmgine.messages.bus.MessageBus.session>`).
    """

    __slots__ = ("__weakref__", "causation_id", "command_id", "correlation_id", "session_id")

    command_id: str
    correlation_id: str | None
    causation_id: str | None
    session_id: str | None

    if TYPE_CHECKING:
        # For type checkers only: lets CommandClass read R_co off a command class, so
        # register_command() can check the handler's result type (see messages/_typing.py).
        def __llmgine_result__(self) -> R_co: ...

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        self = _new(cls)
        if cls.__setattr__ is _plain_setattr:
            # plain stores cost a fraction of the slot setters' calls
            self.command_id = _ids.prefix + str(next(_ids.counter))  # new_id(), inlined
            self.correlation_id = None
            self.causation_id = None
            self.session_id = None
        else:  # a frozen class (or one with setattr hooks): the slots' own setters
            _set_command_id(self, _ids.new_id())
            _set_correlation_id(self, None)
            _set_causation_id(self, None)
            _set_session_id(self, None)
        return self

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        refuse_bus_fields(cls)

    def __reduce_ex__(self, protocol: SupportsIndex) -> str | tuple[Any, ...]:
        # pickles and copies keep the ids and links (see _reduce.py)
        return keep_slots(super().__reduce_ex__(protocol), self, Command, _SAVED)


_new = object.__new__
_plain_setattr = object.__setattr__
_set_command_id = slot_setter(Command, "command_id")
_set_correlation_id = slot_setter(Command, "correlation_id")
_set_causation_id = slot_setter(Command, "causation_id")
_set_session_id = slot_setter(Command, "session_id")
_SAVED = ("command_id", "correlation_id", "causation_id", "session_id")


if not TYPE_CHECKING:  # (a module __getattr__ would hide misspelled names from mypy)
    # Everything but Command is built on first use (see messages/_lazy.py); __all__ is
    # "Command" and then _core_names.COMMAND_NAMES.
    __getattr__, __dir__ = lazy_names(
        __name__, "llmgine.messages._core_commands", COMMAND_NAMES, own=["Command"]
    )
