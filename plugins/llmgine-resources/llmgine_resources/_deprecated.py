"""Setup names of 0.1 kept for one minor version: each warns and calls :func:`install`."""

from __future__ import annotations

import warnings

from llmgine.messages.bus import message_bus

from ._state import install
from ._store import ResourceStore

__all__ = ["configure"]


def configure(store: ResourceStore | None) -> None:
    """Deprecated since 0.2: use ``llmgine_resources.install(bus, store=store)``.

    Configures the process-wide ``message_bus`` only (``None``: the store
    ``LLMGINE_RESOURCES_DB`` names, else a new in-memory one).
    """
    warnings.warn(
        "llmgine_resources.configure(store) is deprecated and will be removed in 0.3; use "
        "llmgine_resources.install(bus, store=store) (or install(bus, db=path)), which "
        "configures that bus only",
        DeprecationWarning,
        stacklevel=2,
    )
    if store is not None and not isinstance(store, ResourceStore):
        raise TypeError(
            f"configure() needs a ResourceStore (create/update/delete/get/list/close), "
            f"got {store!r}"
        )
    install(message_bus, store=store)
