"""llmgine-resources: handles ``CreateResourceCommand``, ``UpdateResourceCommand`` and
``DeleteResourceCommand`` with a pluggable resource store.

Installed, it is found by ``register_handlers()`` (entry point ``resources``).
Resources are kept in memory unless ``LLMGINE_RESOURCES_DB=/path/to/resources.db``
is set or a store is configured::

    import llmgine_resources

    llmgine_resources.configure(llmgine_resources.SqliteResourceStore("resources.db"))
    llmgine_resources.get_resource(resource_id).data
"""

from ._commands import IdempotentCreateResourceCommand
from ._config import DB_ENV, configure, get_resource, get_store
from ._errors import IdempotencyConflict, ResourceNotFound
from ._sqlite import SqliteResourceStore
from ._store import CreateResult, InMemoryResourceStore, Resource, ResourceStore

__all__ = [
    "DB_ENV",
    "CreateResult",
    "IdempotencyConflict",
    "IdempotentCreateResourceCommand",
    "InMemoryResourceStore",
    "Resource",
    "ResourceNotFound",
    "ResourceStore",
    "SqliteResourceStore",
    "configure",
    "get_resource",
    "get_store",
]

# Tracebacks and reprs name the public module, where users import these from.
for _public in (IdempotencyConflict, IdempotentCreateResourceCommand, ResourceNotFound):
    _public.__module__ = __name__
del _public
