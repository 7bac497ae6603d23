"""``llmgine new-plugin`` refuses what it cannot write: a plugin named like the core's own
distribution, and a directory it cannot create or write to (one line, no traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from llmgine._scaffold import ScaffoldError, plugin_names, render_plugin
from llmgine._version import DISTRIBUTION
from llmgine.cli import main


@pytest.mark.parametrize("name", ["messages", "llmgine-messages", "llmgine_messages", "Messages"])
def test_a_name_whose_distribution_is_the_cores_is_refused(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert DISTRIBUTION == "llmgine-messages"
    with pytest.raises(ScaffoldError, match="llmgine-messages, which is the core's own"):
        plugin_names(name)
    monkeypatch.chdir(tmp_path)
    assert main(["new-plugin", name]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"llmgine new-plugin: plugin name {name!r} would make the distribution")
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_names_that_only_resemble_the_core_are_fine() -> None:
    assert plugin_names("messages-extra")["dist"] == "llmgine-messages-extra"
    assert plugin_names("message")["dist"] == "llmgine-message"


@pytest.mark.parametrize(
    ("directory", "reason"),
    [
        ("afile/sub", "Not a directory"),  # a part of the path is a file
        ("x" * 300, "File name too long"),
    ],
)
def test_a_directory_that_cannot_be_written_is_one_line(
    directory: str,
    reason: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a directory")
    assert main(["new-plugin", "greeter", "--dir", directory]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"llmgine new-plugin: cannot write the plugin to {directory}: {reason}")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_the_os_error_is_chained_and_the_message_says_files_are_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The disk fills up after the first file: the message says what is left behind.
    real_write_text = Path.write_text
    calls: list[Path] = []

    def write_text(path: Path, text: str, **kwargs: object) -> int:
        calls.append(path)
        if len(calls) > 1:
            raise OSError(28, "No space left on device", str(path))
        return real_write_text(path, text, encoding="utf-8")

    monkeypatch.setattr(Path, "write_text", write_text)
    target = tmp_path / "out"
    with pytest.raises(ScaffoldError) as info:
        render_plugin("greeter", target)
    message = str(info.value)
    assert message.startswith(f"cannot write the plugin to {target}: No space left on device: ")
    assert message.endswith(f"; the files written before the failure are left in {target}")
    assert isinstance(info.value.__cause__, OSError)
    assert [p for p in target.rglob("*") if p.is_file()] == calls[:1]
