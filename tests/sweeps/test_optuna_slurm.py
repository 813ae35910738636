"""An Optuna sweep on a real Slurm (``make test-slurm``): one job array whose task ``i`` asks the
study for slot ``i``'s trial at its start, trains it and tells the study."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from abyssexp.cli import app
from tests.sweeps.test_slurm import CPU, LIGHT, _rows, _wait
from tests.training.helpers import history, new_tiny, record

optuna = pytest.importorskip("optuna")

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        shutil.which("sbatch") is None or not os.environ.get("SLURM_CONF"),
        reason="needs a Slurm cluster: `make test-slurm` starts one (sbatch on PATH, SLURM_CONF)",
    ),
]


def test_an_optuna_study_runs_as_a_slurm_array(runner, scratch: Path, shapes) -> None:
    base = new_tiny(runner, shapes, "--set", "training.epochs=1", *LIGHT, name="base")
    created = runner.invoke(
        app,
        ["sweep", "new", "proj", "hpo", "tiny", "--from", str(base), "--search", "optuna",
         "--trials", "3", "--metric", "val_loss",
         "--space", "training.lr=loguniform(1e-4,1e-2)", "--space", "model.dropout=uniform(0,0.5)"],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    sweep = created.stdout.strip().splitlines()[-1]
    submitted = runner.invoke(app, ["sweep", "run", sweep, "--on", "slurm", *CPU])
    assert submitted.exit_code == 0, submitted.output
    assert submitted.stdout.count("submitted slot") == 3
    array = submitted.stdout.split("slurm job ")[1].split("_")[0]

    def all_told() -> bool:
        rows = _rows(runner, sweep)
        assert not {row["status"] for row in rows} & {"crashed", "failed"}, rows
        return len(rows) == 3 and all(row["status"] == "completed" for row in rows)

    _wait("every trial to be made and complete", all_told, every=1.0)
    path = scratch / "proj" / "hpo" / ".sweeps" / "s001.json"
    trials = json.loads(path.read_text())["trials"]
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(path.with_name("s001.optuna.journal")))
    )
    study = optuna.load_study(study_name=sweep, storage=storage)
    _wait("the last tell", lambda: all(t.state.name == "COMPLETE" for t in study.trials))
    assert sorted(t["index"] for t in trials) == [0, 1, 2]
    for trial in trials:
        root = scratch / "proj" / "hpo" / trial["name"]
        told = study.trials[trial["optuna_trial"]]
        assert told.params == trial["values"]
        assert told.value == min(float(row["val_loss"]) for row in history(root))
        assert record(root)["slurm"]["job_id"] == f"{array}_{trial['index']}"
    again = runner.invoke(app, ["sweep", "run", sweep, "--on", "slurm", *CPU])
    assert again.exit_code == 0 and "submitted" not in again.stdout
