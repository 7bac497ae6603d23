"""The codec benchmark (bench/codec_bench.py) runs end to end in quick mode.

No timing assertions: this proves that both sides decode the same entries and that
every column is filled (pydantic's where it is installed).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "codec_bench.py"
CASES = ("small", "medium", "medium_attrs")


def test_the_codec_benchmark_fills_every_column(tmp_path: Path) -> None:
    out = tmp_path / "codec.json"
    # (the baseline: this checkout itself, by path, to stay quick)
    argv = [sys.executable, str(SCRIPT), "--quick", "--baseline", str(ROOT), "--json", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "| small |" in done.stdout
    (result,) = json.loads(out.read_text())["results"]
    columns = {"before", "after", "from_json_dict", "from_json_str"}
    if importlib.util.find_spec("pydantic") is not None:
        columns |= {"pydantic_python", "pydantic_json"}
    else:
        assert result["notes"] == ["pydantic is not installed here: pip install '.[bench]'"]
    for case in CASES:
        assert set(result["figures"][case]) == columns
        assert all(rate > 0 for rate in result["figures"][case].values())


def test_a_baseline_revision_is_checked_out_and_removed_again() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import codec_bench
    finally:
        sys.path.remove(str(SCRIPT.parent))
    with codec_bench.baseline_tree("HEAD") as tree:
        assert (tree / "plugins" / "llmgine-redis" / "llmgine_redis" / "_wire.py").is_file()
    assert not tree.exists()
    worktrees = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True, check=True
    )
    assert str(tree) not in worktrees.stdout


def test_an_unknown_baseline_revision_fails_naming_it() -> None:
    argv = [sys.executable, str(SCRIPT), "--quick", "--baseline", "no-such-revision-x"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "cannot check out the baseline 'no-such-revision-x'" in done.stderr
