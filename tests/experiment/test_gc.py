"""``gc`` decides on the derived status: a crashed run's checkpoints are collectable, a live
run's are not touched."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from abyssexp.cli import app


def _running_experiment(runner, pid: int) -> Path:
    result = runner.invoke(app, ["new", "proj", "cls", "run"])
    assert result.exit_code == 0, result.output
    root = Path(result.stdout.strip().splitlines()[-1])
    for epoch in range(1, 5):
        (root / "models" / f"model_{epoch}.keras").write_bytes(b"x" * 100)
    record = json.loads((root / "record.json").read_text())
    record.update(status="running", pid=pid, host=socket.gethostname())
    (root / "record.json").write_text(json.dumps(record))
    return root


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_gc_collects_a_crashed_run_and_skips_a_live_one(runner, scratch: Path) -> None:
    crashed = _running_experiment(runner, _dead_pid())
    shown = runner.invoke(app, ["list", "--json"])
    assert json.loads(shown.stdout)[0]["status"] == "crashed"
    result = runner.invoke(app, ["gc", str(crashed), "--keep", "last", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["experiments"][0]["removed"] == [
        "model_1.keras",
        "model_2.keras",
        "model_3.keras",
    ]
    assert sorted(p.name for p in (crashed / "models").glob("model_*")) == ["model_4.keras"]

    live = _running_experiment(runner, os.getpid())  # this process: alive
    result = runner.invoke(app, ["gc", str(live), "--keep", "last", "--json"])
    report = json.loads(result.stdout)["experiments"][0]
    assert report["removed"] == [] and report["kept"] == ["(running: skipped)"]
    assert len(list((live / "models").glob("model_*"))) == 4


def test_gc_all_skips_a_linked_project_and_collects_the_rest(
    runner, scratch: Path, tmp_path: Path
) -> None:
    # Issue 31 case 16: the first symlinked project stopped gc --all, collecting nothing.
    for project in ("aaa", "zzz"):
        made = runner.invoke(app, ["new", project, "cls", "run"])
        assert made.exit_code == 0, made.output
        root = Path(made.stdout.strip().splitlines()[-1])
        for epoch in range(1, 4):
            (root / "models" / f"model_{epoch}.keras").write_bytes(b"x" * 100)
    outside = tmp_path / "outside" / "proj"
    outside.parent.mkdir()
    shutil.copytree(scratch / "aaa", outside)
    (scratch / "linked").symlink_to(outside)
    result = runner.invoke(app, ["gc", "--all", "--keep", "last", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    collected = {Path(e["path"]).parts[-3]: e["removed"] for e in report["experiments"]}
    assert collected == {p: ["model_1.keras", "model_2.keras"] for p in ("aaa", "zzz")}
    assert len(report["skipped"]) == 1 and "linked: is a symlink" in report["skipped"][0]
    assert "warning: skipped:" in result.stderr
    kept = sorted(p.name for p in (outside / "cls").glob("*/models/model_*"))
    assert kept == ["model_1.keras", "model_2.keras", "model_3.keras"]  # never touched
