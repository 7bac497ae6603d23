"""Setup names of 0.1 kept for one minor version: each warns and calls :func:`install`."""

from __future__ import annotations

import os
import warnings

from llmgine.messages.bus import message_bus

from ._state import install

__all__ = ["configure"]


def configure(path: str | os.PathLike[str] | None) -> None:
    """Deprecated since 0.2: use ``llmgine_audit.install(bus, log=path)``.

    Configures the process-wide ``message_bus`` only (``None``: the file
    ``LLMGINE_AUDIT_LOG`` names, else idle).
    """
    warnings.warn(
        "llmgine_audit.configure(path) is deprecated and will be removed in 0.3; use "
        "llmgine_audit.install(bus, log=path), which configures that bus only",
        DeprecationWarning,
        stacklevel=2,
    )
    install(message_bus, log=path)
