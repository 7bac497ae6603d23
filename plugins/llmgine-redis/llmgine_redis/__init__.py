"""llmgine-redis: carry llmgine's events and commands between processes over Redis Streams.

Installed, it does nothing until selected for a bus: :func:`install` (``install(bus,
url=..., **settings)``), or for ``register_handlers()`` the environment
(``LLMGINE_TRANSPORT=redis``, settings in ``LLMGINE_REDIS_*``). Messages travel under
the wire names of the core's message catalogue (plugins name theirs in their
``register_messages`` hook). See the README for the wire format, key names, delivery
guarantees and outage behaviour.
"""

from ._commands import remote, remote_types
from ._config import RedisConfig
from ._consumer import EventConsumer
from ._outbox import RedisOutbox
from ._settings import RedisSettings
from ._transport import RedisTransport, disable, enable, install, transport_of
from ._wire import FORMAT_VERSION, register_type, registered
from .errors import (
    PoolExhausted,
    RemoteCommandError,
    RemoteCommandTimeout,
    TransportError,
    TransportOutcomeUnknown,
    WireError,
    WorkerStartError,
)

__all__ = [
    "FORMAT_VERSION",
    "EventConsumer",
    "PoolExhausted",
    "RedisConfig",
    "RedisOutbox",
    "RedisSettings",
    "RedisTransport",
    "RemoteCommandError",
    "RemoteCommandTimeout",
    "TransportError",
    "TransportOutcomeUnknown",
    "WireError",
    "WorkerStartError",
    "disable",
    "enable",
    "install",
    "register_type",
    "registered",
    "remote",
    "remote_types",
    "transport_of",
]
