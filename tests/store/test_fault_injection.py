"""Kill a promotion (SIGKILL) at every step of its transaction in turn: the store never shows a
half-copied model or a registry row without its folder, and a retry or ``store repair`` finishes
the job. The kill comes from the test hook ``ABYSSEXP_FAULT_AT=<step>`` in ``store/folder_promote.py``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from abyssexp.cli import app
from abyssexp.experiment.record_file import read_record
from abyssexp.store.manifest import verify_tree
from abyssexp.store.promotion import FAULT_ENV, FAULT_STEPS

RENAMED = FAULT_STEPS[FAULT_STEPS.index("renamed") :]


def _registry(store: Path) -> dict:
    """The registry file, each row's path made absolute (rows hold it relative to the store)."""
    path = store / "registry.json"
    data = json.loads(path.read_text()) if path.exists() else {"models": [], "aliases": {}}
    for row in data["models"]:
        row["path"] = str(store / row["path"])
    return data


def _assert_consistent(store: Path, destination: Path) -> None:
    """No half-copied destination; every registry row names an intact folder."""
    if destination.exists():
        assert not [p for p in verify_tree(destination) if not p.startswith("writable")]
    for row in _registry(store)["models"]:
        assert verify_tree(Path(row["path"])) == [], row["path"]


def _assert_finished(store: Path, root: Path, destination: Path) -> None:
    assert verify_tree(destination) == []  # complete, and sealed read-only
    registry = _registry(store)
    assert [m["path"] for m in registry["models"]] == [str(destination)]
    assert registry["aliases"] == {"proj/cls": {"production": root.name}}
    assert [p.path for p in read_record(root / "record.json").promotions] == [str(destination)]
    leftovers = [p.name for p in destination.parent.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []


@pytest.mark.slow
@pytest.mark.parametrize("finish_with", ["retry", "repair"])
@pytest.mark.parametrize("step", FAULT_STEPS)
def test_promotion_killed_at_any_step_is_consistent_and_recoverable(
    runner, tested, tmp_path: Path, step: str, finish_with: str
) -> None:
    root = tested(size=3 << 20)
    store = tmp_path / "store"
    destination = store / "proj" / "cls" / root.name
    command = ["promote", str(root), "--alias", "production", "--move"]
    killed = subprocess.run(
        [sys.executable, "-m", "abyssexp", *command],
        env={**os.environ, FAULT_ENV: step},
        capture_output=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    _assert_consistent(store, destination)
    assert destination.exists() == (step in RENAMED)

    if finish_with == "repair":
        repaired = runner.invoke(app, ["store", "repair"])
        assert repaired.exit_code == 0, repaired.output
        _assert_consistent(store, destination)
        if step in RENAMED:
            _assert_finished(store, root, destination)
    retried = runner.invoke(app, command)
    if step == "recorded" or (finish_with == "repair" and step in RENAMED):
        assert retried.exit_code == 1 and "already promoted" in retried.output
    else:
        assert retried.exit_code == 0, retried.output
        assert not (root / "models" / "model_3.keras").exists()  # --move done by the retry
    _assert_finished(store, root, destination)
