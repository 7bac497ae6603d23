"""Plugins "installed" without pip: a ``.dist-info`` directory with an entry point, and
the plugin's module, in a directory put on ``sys.path`` (``importlib.metadata`` finds
them as it finds pip-installed ones)."""

from __future__ import annotations

from pathlib import Path

import pytest


def install_fake_plugin(
    monkeypatch: pytest.MonkeyPatch,
    root: Path,
    name: str,
    source: str | None,
    *,
    dist: str | None = None,
) -> None:
    """Make plugin ``name`` (distribution ``dist``, default ``llmgine-<name>``, version
    0.0.1) installed for the rest of the test; ``source`` is its module's code (None:
    the module does not exist, so importing the plugin fails)."""
    dist = dist or f"llmgine-{name}"
    module = dist.replace("-", "_")
    info = root / f"{module}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[llmgine.plugins]\n{name} = {module}\n")
    if source is not None:
        (root / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(root))
