"""``gc``, ``promote --move`` and the cleaning of stale temporaries never follow a symlink out of
the folder abyssexp owns: a symlinked folder is refused, a symlinked file is removed as a link."""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from abyssexp.cli import app
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.store.backend import promote_experiment
from tests.store.conftest import one_line_error


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder outside scratch and store, with checkpoint-looking read-only files."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    for name in ("model_1.keras", "model_2.keras", "model_3.keras", "best.keras"):
        (folder / name).write_bytes(name.encode())
        os.chmod(folder / name, 0o444)
    return folder


def _symlink_models(root: Path, elsewhere: Path) -> None:
    shutil.rmtree(root / "models")
    (root / "models").symlink_to(elsewhere, target_is_directory=True)


@pytest.mark.parametrize("dry_run", [False, True])
def test_gc_refuses_a_symlinked_models_folder(runner, tested, elsewhere, dry_run) -> None:
    root = tested()
    _symlink_models(root, elsewhere)
    before = _snapshot(elsewhere)
    result = runner.invoke(
        app, ["gc", str(root), "--keep", "1", *(["--dry-run"] if dry_run else [])]
    )
    assert result.exit_code == 1
    assert "symlink" in one_line_error(result.output)
    assert _snapshot(elsewhere) == before


def test_gc_removes_a_symlinked_checkpoint_as_a_link(runner, tested, elsewhere) -> None:
    root = tested()
    (root / "models" / "model_1.keras").symlink_to(elsewhere / "model_1.keras")
    (root / "models" / "model_2.keras").write_bytes(b"2")
    before = _snapshot(elsewhere)
    result = runner.invoke(app, ["gc", str(root), "--keep", "last"])
    assert result.exit_code == 0, result.output
    assert not os.path.lexists(root / "models" / "model_1.keras")
    assert not (root / "models" / "model_2.keras").exists()
    assert _snapshot(elsewhere) == before


def test_promote_move_refuses_a_symlinked_models_folder_before_promoting(
    runner, tested, elsewhere, tmp_path: Path
) -> None:
    root = tested()
    (elsewhere / "model_3.keras").chmod(0o644)
    _symlink_models(root, elsewhere)
    before = _snapshot(elsewhere)
    result = runner.invoke(app, ["promote", str(root), "--move"])
    assert result.exit_code == 1
    assert "symlink" in one_line_error(result.output)
    assert _snapshot(elsewhere) == before
    assert not (tmp_path / "store" / "proj" / "cls" / root.name).exists()  # plan, then act


def test_promote_move_removes_a_symlinked_checkpoint_as_a_link(
    runner, tested, elsewhere, tmp_path: Path
) -> None:
    root = tested()
    (root / "models" / "model_1.keras").symlink_to(elsewhere / "model_1.keras")
    before = _snapshot(elsewhere)
    result = runner.invoke(app, ["promote", str(root), "--move"])
    assert result.exit_code == 0, result.output
    assert not os.path.lexists(root / "models" / "model_1.keras")
    assert (root / "models" / "best.keras").is_file()
    assert _snapshot(elsewhere) == before


def test_cleaning_stale_temporaries_never_follows_symlinks(
    tested, elsewhere, tmp_path: Path
) -> None:
    root = tested()
    type_dir = tmp_path / "store" / "proj" / "cls"
    type_dir.mkdir(parents=True)
    (type_dir / ".tmp-link-host-1-abcd").symlink_to(elsewhere, target_is_directory=True)
    stale = type_dir / ".tmp-stale-host-999999999-abcd"
    (stale / "logs").mkdir(parents=True)
    (stale / "logs" / "link.keras").symlink_to(elsewhere / "best.keras")
    (stale / "linked-folder").symlink_to(elsewhere, target_is_directory=True)
    long_ago = time.time() - 7 * 86400
    for path in (stale / "logs", stale):
        os.utime(path, (long_ago, long_ago))
    before = _snapshot(elsewhere)
    promote_experiment(ExperimentPaths(root), tmp_path / "store")
    assert _snapshot(elsewhere) == before  # contents and read-only modes untouched
    assert not stale.exists()
