"""What a transport plugin says about where it carries messages (the ``describe_channels`` hook).

``llmgine schema --asyncapi`` makes the channels, operations and servers of its AsyncAPI
document from these; the core knows no transport, so a transport plugin describes its
own key names and servers here (see the hook reference, ``describe_channels``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import attrs

__all__ = ["ChannelInfo", "TransportInfo"]

#: what an AsyncAPI document accepts as a key of ``channels`` (and we as a channel name)
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


def _check_name(_self: Any, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not _CHANNEL_NAME.fullmatch(value):
        raise ValueError(
            f"{attribute.name} must be a non-empty str of letters, digits, '.', '_' and '-', "
            f"got {value!r}"
        )


def _wire_names(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):  # (a lone name would otherwise become its characters)
        raise TypeError(f"messages must be a sequence of wire names, not the str {value!r}")
    return tuple(value)


@attrs.frozen(kw_only=True)
class ChannelInfo:
    """One channel of a transport: a stream, topic or queue, and the messages it carries.

    ``name`` keys it in the AsyncAPI document (``events``); ``address`` is what the
    transport calls it (a Redis stream key, ``llmgine:events``; ``None``: not known
    beforehand); ``messages`` are the
    wire names (of the message catalogue) of the classes that travel on it.
    """

    name: str = attrs.field(validator=_check_name)
    address: str | None
    messages: tuple[str, ...] = attrs.field(converter=_wire_names)
    description: str = ""


def _channels(value: Iterable[ChannelInfo]) -> tuple[ChannelInfo, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class TransportInfo:
    """What the ``describe_channels`` hook of a transport that is configured returns.

    ``host`` (e.g. ``127.0.0.1:6379``, never with credentials), ``pathname`` and
    ``protocol`` (an AsyncAPI protocol name such as ``redis``) make the document's
    server ``name``; ``channels`` are the channels it carries messages on.
    """

    name: str = attrs.field(validator=_check_name)
    protocol: str
    host: str
    pathname: str | None = None
    description: str = ""
    channels: tuple[ChannelInfo, ...] = attrs.field(converter=_channels)
