"""Plugins "installed" without pip: a ``.dist-info`` directory with an entry point, and
the plugin's module, in a directory put on ``sys.path`` (``importlib.metadata`` finds
them as it finds pip-installed ones)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest


def write_dist_info(
    root: Path,
    dist: str,
    version: str,
    entry_points: Mapping[str, Mapping[str, str]],
    requires: Iterable[str] = (),
) -> Path:
    """Write the ``.dist-info`` pip would leave in ``root`` for distribution ``dist``:
    its metadata (with ``requires`` as ``Requires-Dist``) and ``entry_points``
    (``{group: {name: target}}``); return its directory."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    metadata = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {line}\n" for line in requires)
    (info / "METADATA").write_text(metadata)
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in names.items())
            for group, names in entry_points.items()
        )
    )
    return info


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
    write_dist_info(root, dist, "0.0.1", {"llmgine.plugins": {name: module}})
    if source is not None:
        (root / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(root))
