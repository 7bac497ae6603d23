"""llmgine-resources: handles ``CreateResourceCommand``, ``UpdateResourceCommand`` and
``DeleteResourceCommand`` with a pluggable resource store, one per bus.

Installed, it is found by ``register_handlers()`` (entry point ``resources``).
Resources are kept in memory unless ``LLMGINE_RESOURCES_DB=/path/to/resources.db``
is set, or the bus is set up in code::

    import llmgine_resources

    llmgine_resources.install(bus, db="resources.db")  # or store=SqliteResourceStore(...)
    llmgine_resources.get_resource(resource_id, bus).data
"""

from ._commands import IdempotentCreateResourceCommand
from ._deprecated import configure
from ._sqlite import SqliteResourceStore
from ._state import (
    DB_ENV,
    FILE_MODE_ENV,
    ResourcesState,
    get_resource,
    get_store,
    install,
    state_of,
)
from ._store import CreateResult, InMemoryResourceStore, Resource, ResourceStore
from .errors import IdempotencyConflict, ResourceNotFound, ResourceStoreError

__all__ = [
    "DB_ENV",
    "FILE_MODE_ENV",
    "CreateResult",
    "IdempotencyConflict",
    "IdempotentCreateResourceCommand",
    "InMemoryResourceStore",
    "Resource",
    "ResourceNotFound",
    "ResourceStore",
    "ResourceStoreError",
    "ResourcesState",
    "SqliteResourceStore",
    "configure",
    "get_resource",
    "get_store",
    "install",
    "state_of",
]

# Tracebacks and reprs name the public module, where users import these from.
for _public in (
    IdempotencyConflict,
    IdempotentCreateResourceCommand,
    ResourceNotFound,
    ResourceStoreError,
):
    _public.__module__ = __name__
del _public
