"""The project's own tooling: what ``dev.py`` and ``.ci/run`` use (not shipped in any artefact)."""
