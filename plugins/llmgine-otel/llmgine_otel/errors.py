"""The plugin's errors (public). It defines none of its own: spans and metrics never
fail a dispatch.

A bad setting given to ``install`` is a ``TypeError`` naming it.
"""

__all__: list[str] = []
