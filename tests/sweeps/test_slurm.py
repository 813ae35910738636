"""Sweeps on a real Slurm (``make test-slurm`` starts a one-node cluster on this host): a grid runs
to completion, ``list`` follows queued → running → completed with one ``squeue``/``sacct`` for all
trials, a cancelled and a killed job show Slurm's reason, and a requeued job resumes."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from abyssexp.cli import app
from tests.training.helpers import new_tiny, record

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        shutil.which("sbatch") is None or not os.environ.get("SLURM_CONF"),
        reason="needs a Slurm cluster: `make test-slurm` starts one (sbatch on PATH, SLURM_CONF)",
    ),
]
#: CPU jobs of one core each: the 2-core test node runs two at once.
CPU = ["--slurm-gpus", "0", "--cpus", "1", "--mem", "3G"]
LIGHT = [
    "--set", "callbacks.pr_curves=false", "--set", "callbacks.tfpn=false",
    "--set", "callbacks.log_images=0",
]  # fmt: skip


def _wait(what: str, check: Callable[[], Any], timeout: float = 600, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    squeue = subprocess.run(["squeue"], capture_output=True, text=True).stdout
    raise AssertionError(f"timed out waiting for {what}; squeue:\n{squeue}")


def _rows(runner, sweep: str) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["list", "--sweep", sweep, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _epochs(root: Path) -> list[str]:
    try:
        with open(root / "logs" / "history.csv") as handle:
            return [row["epoch"] for row in csv.DictReader(handle)]
    except FileNotFoundError:
        return []


def _new_sweep(runner, shapes, epochs: int, *grid: str) -> str:
    base = new_tiny(runner, shapes, "--set", f"training.epochs={epochs}", *LIGHT, name="base")
    result = runner.invoke(
        app, ["sweep", "new", "proj", "grid", "tiny", "--from", str(base), *grid]
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def test_grid_of_lr_and_seeds_completes_on_slurm(
    runner, scratch: Path, shapes, monkeypatch
) -> None:
    sweep = _new_sweep(runner, shapes, 1, "--grid", "training.lr=2e-3,1e-3,5e-4", "--seeds", "2")
    submitted = runner.invoke(
        app, ["sweep", "run", sweep, "--on", "slurm", "--max-running", "2", *CPU]
    )
    assert submitted.exit_code == 0, submitted.output
    array = submitted.stdout.split("slurm job ")[1].split("_")[0]
    seen: Counter[str] = Counter()

    def all_completed() -> bool:
        rows = _rows(runner, sweep)
        seen.update(row["status"] for row in rows)
        assert not {row["status"] for row in rows} & {"crashed", "failed"}, rows
        return all(row["status"] == "completed" for row in rows)

    _wait("every trial to complete", all_completed, every=0.5)
    assert seen["queued"] and seen["running"], seen  # the array cap kept four waiting
    rows = _rows(runner, sweep)
    assert len(rows) == 6
    for index, row in enumerate(rows):
        root = Path(row["path"])
        assert record(root)["slurm"]["job_id"] == f"{array}_{index}"
        assert _epochs(root) == ["1"]  # its own history
        out = root / "logs" / f"slurm-{array}_{index}.out"
        assert "training completed" in out.read_text()  # Slurm's stdout in the trial's logs/
        assert (root / "logs" / "slurm.sh").read_text().splitlines()[-1].startswith("exec ")
    compared = runner.invoke(app, ["compare", "--sweep", sweep, "--json"])
    assert compared.exit_code == 0, compared.output
    params = json.loads(compared.stdout)["params"]
    assert params["training.lr"] == [0.002, 0.002, 0.001, 0.001, 0.0005, 0.0005]
    assert len(set(params["training.seed"])) == 2
    again = runner.invoke(app, ["sweep", "run", sweep, "--on", "slurm", *CPU])
    assert again.exit_code == 0 and "submitted" not in again.stdout  # nothing left to run

    # One squeue and one sacct (or scontrol where there is no accounting) for all six.
    import abyssexp.slurm
    from abyssexp.experiment.index import list_experiments

    calls: Counter[str] = Counter()
    real = abyssexp.slurm.run_slurm

    def counting(args, **kwargs):
        calls[args[0]] += 1
        return real(args, **kwargs)

    monkeypatch.setattr(abyssexp.slurm, "run_slurm", counting)
    listed = list_experiments(scratch, "proj", "grid")
    assert sum(row["status"] == "completed" for row in listed) == 6
    assert calls["squeue"] == 1 and calls["sacct"] <= 1 and calls["scontrol"] <= 1, calls


def test_cancelled_and_killed_jobs_show_slurms_reason(runner, scratch: Path, shapes) -> None:
    sweep = _new_sweep(runner, shapes, 20, "--grid", "training.lr=1e-3,5e-4")
    submitted = runner.invoke(
        app, ["sweep", "run", sweep, "--on", "slurm", "--max-running", "1", *CPU]
    )
    assert submitted.exit_code == 0, submitted.output
    first, second = (Path(row["path"]) for row in _rows(runner, sweep))
    job = record(first)["slurm"]["job_id"]
    _wait("the first trial to train", lambda: record(first)["status"] == "running")
    assert [row["status"] for row in _rows(runner, sweep)] == ["running", "queued"]

    cancelled = runner.invoke(app, ["cancel", str(second)])
    assert cancelled.exit_code == 0, cancelled.output
    assert f"scancel {record(second)['slurm']['job_id']}" in cancelled.stdout
    row = _wait("the cancel", lambda: [r for r in _rows(runner, sweep) if r["status"] == "crashed"])
    assert row[0]["name"] == second.name and "CANCELLED" in row[0]["status_reason"]
    table = runner.invoke(app, ["list", "--sweep", sweep], env={"COLUMNS": "200"})
    assert "crashed (CANCELLED)" in table.stdout

    # SIGKILL to the batch shell, which is Python itself (exec): no chance to write a status.
    subprocess.run(["scancel", "--signal=KILL", "--batch", job], check=True)
    _wait("the kill", lambda: _rows(runner, sweep)[0]["status"] == "crashed")
    assert record(first)["status"] == "running"  # the record alone could not know
    shown = runner.invoke(app, ["show", str(first), "--json"])
    info = json.loads(shown.stdout)["record"]
    assert info["status"] == "crashed"
    assert "killed by signal 9" in info["status_reason"], info["status_reason"]


def test_a_requeued_job_resumes_from_the_last_finished_epoch(runner, scratch, shapes) -> None:
    base = new_tiny(runner, shapes, "--set", "training.epochs=6", *LIGHT, name="requeue")
    submitted = runner.invoke(app, ["train", str(base), "--on", "slurm", *CPU])
    assert submitted.exit_code == 0, submitted.output
    job = record(base)["slurm"]["job_id"]
    _wait("the first epoch", lambda: len(_epochs(base)) >= 1, every=0.2)
    assert len(_epochs(base)) < 6
    subprocess.run(["scontrol", "requeue", job], check=True)
    _wait("the requeued job to finish", lambda: record(base)["status"] == "completed")
    assert _epochs(base) == ["1", "2", "3", "4", "5", "6"]  # no epoch twice, none missing
    logs = (base / "logs" / f"slurm-{job}.out").read_text()
    logs += (base / "logs" / f"slurm-{job}.err").read_text()
    assert "DUE TO JOB REQUEUE" in logs
    provenance = json.loads((base / "logs" / "provenance.json").read_text())
    assert provenance["train"]["resumed"] is True
    assert record(base)["slurm"]["job_id"] == job
