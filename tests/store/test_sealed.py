"""A promoted folder is read-only, folders included, and ``verify`` reports anything added,
missing, changed or made writable."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from abyssexp.cli import app
from abyssexp.store.manifest import verify_tree


def _modes(destination: Path) -> tuple[set[int], set[int]]:
    folders, files = {stat.S_IMODE(destination.stat().st_mode)}, set()
    for dirpath, dirs, names in os.walk(destination):
        folders |= {stat.S_IMODE((Path(dirpath) / d).lstat().st_mode) for d in dirs}
        files |= {stat.S_IMODE((Path(dirpath) / n).lstat().st_mode) for n in names}
    return folders, files


def _promote(runner, tested, tmp_path: Path) -> Path:
    root = tested()
    result = runner.invoke(app, ["promote", str(root)])
    assert result.exit_code == 0, result.output
    return tmp_path / "store" / "proj" / "cls" / root.name


def test_promoted_folders_and_files_are_read_only(runner, tested, tmp_path: Path) -> None:
    destination = _promote(runner, tested, tmp_path)
    folders, files = _modes(destination)
    assert folders == {0o555} and files == {0o444}  # mode bits: tests may run as root


def test_verify_reports_added_links_folders_and_writable_modes(
    runner, tested, tmp_path: Path
) -> None:
    destination = _promote(runner, tested, tmp_path)
    os.chmod(destination, 0o755)
    os.chmod(destination / "logs", 0o755)
    (destination / "extra-folder").mkdir()
    (destination / "logs" / "link.csv").symlink_to(destination / "params.json")
    os.chmod(destination / "readme.txt", 0o644)
    result = runner.invoke(app, ["verify", str(destination), "--json"])
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert "unexpected: extra-folder/ (a folder not in the manifest)" in problems
    assert "unexpected: logs/link.csv (a symlink)" in problems
    assert any(p.startswith("writable: readme.txt") for p in problems), problems
    assert any(p.startswith("writable: logs/") for p in problems), problems
    repaired = runner.invoke(app, ["store", "repair"])  # seals again; the additions stay reported
    assert repaired.exit_code == 1
    assert not any(p.startswith("writable") for p in verify_tree(destination))


def test_a_file_replaced_by_a_symlink_is_reported(runner, tested, tmp_path: Path) -> None:
    destination = _promote(runner, tested, tmp_path)
    copy = tmp_path / "params-copy.json"
    copy.write_bytes((destination / "params.json").read_bytes())
    os.chmod(destination, 0o755)
    (destination / "params.json").unlink()
    (destination / "params.json").symlink_to(copy)
    problems = verify_tree(destination)
    assert "changed: params.json (a symlink, not a file)" in problems
