"""Pickling and copying messages: their ids, links and creation time go along.

:class:`~llmgine.messages.events.Event` and
:class:`~llmgine.messages.commands.Command` keep these in slots of their own,
which a subclass's way of saving its state does not know about: attrs and
``@dataclass(slots=True)`` save only their fields (a copy got fresh ids), and a
frozen ``@dataclass`` cannot set base slots back (it could not be copied at all).
So the bases wrap whatever their subclass's pickling saves: :func:`keep_slots`
adds the base's slots, and :func:`_restore` sets them on the rebuilt message
before its own state is applied.
"""

from __future__ import annotations

from typing import Any

from ._fields import slot_setter

__all__ = ["keep_slots"]


def keep_slots(
    reduced: str | tuple[Any, ...], message: object, base: type, names: tuple[str, ...]
) -> str | tuple[Any, ...]:
    """``reduced`` (``object.__reduce_ex__``'s answer for ``message``) with the slots
    ``names`` of ``base`` saved beside it and restored by :func:`_restore`."""
    if isinstance(reduced, str):  # pickled as a global's name: nothing to add
        return reduced
    saved = {}
    for name in names:
        try:
            saved[name] = getattr(base, name).__get__(message)
        except AttributeError:  # never set (a __new__ that skipped the base's)
            continue
    rebuild, args, *rest = reduced
    if rest and type(message).__getstate__ is object.__getstate__:
        rest[0] = _without(rest[0], saved)
    return (_restore, (base, rebuild, args, saved), *rest)


def _without(state: Any, saved: dict[str, Any]) -> Any:
    """object's own state minus the saved slots: a frozen class's ``__setattr__``,
    which the unpickler would call for each, refuses them."""
    if not (isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict)):
        return state  # no slot values in it
    instance_dict, slot_values = state
    slot_values = {name: v for name, v in slot_values.items() if name not in saved}
    # (the unpickler takes no None in place of the slots' dict)
    return (instance_dict, slot_values) if slot_values else instance_dict or None


def _restore(base: type, rebuild: Any, args: tuple[Any, ...], saved: dict[str, Any]) -> object:
    """Rebuild a message as its class's pickling says, then set ``base``'s saved slots."""
    message = rebuild(*args)
    for name, value in saved.items():
        slot_setter(base, name)(message, value)
    return message
