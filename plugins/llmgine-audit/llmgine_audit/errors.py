"""The plugin's errors (public). It defines none of its own: a failing disk never raises.

Write failures are dropped, counted and reported as ``system.audit.*`` events (see the
README); a bad setting given to ``install`` is a ``TypeError`` naming it.
"""

__all__: list[str] = []
