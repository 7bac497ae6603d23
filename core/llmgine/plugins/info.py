"""What the plugin host knows about one plugin (``llmgine plugins`` lists these)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from .status import PluginStatus

__all__ = ["PluginInfo"]


@attrs.frozen
class PluginInfo:
    """What is known about one plugin: where it came from and what it provides."""

    name: str
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    hooks: tuple[str, ...] = ()
    status: PluginStatus | None = None
    #: wire names of the messages it registered in ``register_messages``
    messages: tuple[str, ...] = ()
    #: why it failed to load (lenient mode and ``llmgine plugins`` only)
    error: str | None = None

    @property
    def origin(self) -> str:
        """`` from dist version`` for an installed plugin, else empty (for messages)."""
        return f" from {self.distribution} {self.version}" if self.distribution else ""

    @property
    def source(self) -> str:
        """``plugin 'name' from dist version``: who registered a wire name, in the catalogue."""
        return f"plugin {self.name!r}{self.origin}"
