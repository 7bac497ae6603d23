"""llmgine-redis: carry llmgine's events and commands between processes over Redis Streams.

Installed, it does nothing until selected: ``LLMGINE_TRANSPORT=redis`` (its
``startup`` hook then enables the process-wide bus) or :func:`enable`. See the
README for the wire format, key names, delivery guarantees and outage behaviour.
"""

from ._commands import RemoteCommandError, RemoteCommandTimeout, remote, remote_types
from ._config import RedisConfig, TransportError
from ._consumer import EventConsumer
from ._outbox import RedisOutbox
from ._transport import RedisTransport, disable, enable, transport_of
from ._wire import FORMAT_VERSION, WireError, register_type, registered

__all__ = [
    "FORMAT_VERSION",
    "EventConsumer",
    "RedisConfig",
    "RedisOutbox",
    "RedisTransport",
    "RemoteCommandError",
    "RemoteCommandTimeout",
    "TransportError",
    "WireError",
    "disable",
    "enable",
    "register_type",
    "registered",
    "remote",
    "remote_types",
    "transport_of",
]
