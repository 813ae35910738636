"""Where runs execute, without a cluster: local slots, the Slurm job script and its options, and
how a Slurm job's state becomes the status ``list`` shows."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from abyssexp.cli import app
from abyssexp.errors import InvalidInputError
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.record_file import status_with_job
from abyssexp.runners.local import plan_slots
from abyssexp.runners.slurm_jobs import SlurmOptions, job_script
from abyssexp.runners.targets import RunTarget
from abyssexp.slurm import JobState
from abyssexp.training.plan import TrainOptions
from tests.training.helpers import new_tiny, record

SUBMITTED = "2026-01-01T10:00:00Z"


def test_local_slots_one_gpu_each_or_one_cpu_run() -> None:
    assert plan_slots(None, ["0", "1", "2"]) == ["0", "1", "2"]
    assert plan_slots(2, ["0", "1", "2"]) == ["0", "1"]
    assert plan_slots(None, []) == [None]  # CPU only: one after another
    assert plan_slots(2, []) == [None, None]  # ... unless asked
    with pytest.raises(InvalidInputError, match="has 2 GPU"):
        plan_slots(3, ["0", "1"])
    with pytest.raises(InvalidInputError, match="at least 1"):
        plan_slots(0, [])


def test_job_script_execs_the_exact_train_command(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ABYSSEXP_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "config.toml").write_text(
        '[slurm]\npartition = "gpu"\ntime = "4:00:00"\naccount = "vision"\nmem = "16G"\n'
    )
    options = SlurmOptions.resolve({"time": "0:30:00", "sbatch_args": ("--qos=short",)})
    assert (options.partition, options.time, options.account) == ("gpu", "0:30:00", "vision")
    target = RunTarget(ExperimentPaths(tmp_path / "001.x"), "p/t/001.x", gpus=2)
    script = job_script(target, TrainOptions(("training.lr=0.1",), epochs=3), options)
    lines = script.splitlines()
    for expected in (
        "#SBATCH --gres=gpu:2",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=0:30:00",
        "#SBATCH --account=vision",
        "#SBATCH --mem=16G",
        "#SBATCH --signal=B:TERM@60",
        "#SBATCH --requeue",
        "#SBATCH --qos=short",
        f"#SBATCH --output={tmp_path}/001.x/logs/slurm-%j.out",
    ):
        assert expected in lines, script
    assert lines[-1].startswith("exec ")
    assert lines[-1].endswith(
        f"-m abyssexp train {tmp_path}/001.x --quiet --resume --set training.lr=0.1 --epochs 3"
    )
    cpu = job_script(target, TrainOptions(), SlurmOptions.resolve({"gpus": 0}))
    assert "--gres" not in cpu


@pytest.mark.parametrize(
    ("config", "flags", "message"),
    [
        ('[slurm]\nqueue = "x"\n', {}, "unknown key(s) in [slurm]: queue"),
        ("", {"time": "four hours"}, "--time"),
        ("", {"mem": "lots"}, "--mem"),
        ("[slurm]\ncpus = -1\n", {}, "cpus"),
    ],
)
def test_bad_slurm_options_are_refused(tmp_path, monkeypatch, config, flags, message) -> None:
    monkeypatch.setenv("ABYSSEXP_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "config.toml").write_text(config)
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        SlurmOptions.resolve(flags)


def job(state: str, reason: str = "", exit_code: str = "0:0") -> JobState:
    return JobState("12_3", state, reason=reason, exit_code=exit_code, raw_id="15")


@pytest.mark.parametrize(
    ("status", "started", "state", "expected"),
    [
        ("new", None, job("PENDING", "Resources"), ("queued", "slurm job 12_3: Resources")),
        ("interrupted", "2025-12-31T00:00:00Z", job("PENDING", "None"), ("queued", None)),
        ("new", None, job("RUNNING"), ("running", None)),
        ("crashed", SUBMITTED, job("RUNNING"), ("running", None)),  # Slurm knows it is alive
        ("new", None, job("CANCELLED"), ("crashed", "slurm job 12_3: CANCELLED")),
        ("running", SUBMITTED, job("TIMEOUT"), ("crashed", "slurm job 12_3: TIMEOUT")),
        (
            "running",
            SUBMITTED,
            job("OUT_OF_MEMORY", exit_code="0:125"),
            (
                "crashed",
                "slurm job 12_3: OUT_OF_MEMORY (killed by signal 125)",
            ),
        ),
        (
            "running",
            SUBMITTED,
            job("FAILED", exit_code="0:9"),
            ("crashed", "slurm job 12_3: FAILED (killed by signal 9)"),
        ),
        (
            "new",
            None,
            job("FAILED", exit_code="2:0"),
            ("crashed", "slurm job 12_3: FAILED (exit 2)"),
        ),
        ("completed", SUBMITTED, job("COMPLETED"), ("completed", None)),
        (
            "interrupted",
            SUBMITTED,
            job("CANCELLED", exit_code="130:0"),
            ("interrupted", "slurm job 12_3: CANCELLED"),
        ),
        # An old final status, from before this submission, says nothing about this job.
        (
            "completed",
            "2025-12-31T00:00:00Z",
            job("NODE_FAIL"),
            ("crashed", "slurm job 12_3: NODE_FAIL"),
        ),
        ("running", SUBMITTED, None, ("running", None)),  # Slurm forgot it: the record decides
    ],
)
def test_slurm_state_becomes_the_status_shown(status, started, state, expected) -> None:
    assert status_with_job(status, started, SUBMITTED, state) == expected


@pytest.mark.slow
def test_two_local_runs_at_once_on_a_cpu(runner, scratch: Path, shapes) -> None:
    first = new_tiny(runner, shapes, "--set", "training.epochs=1", name="first")
    second = new_tiny(runner, shapes, "--set", "training.epochs=1", name="second")
    result = runner.invoke(
        app, ["train", str(first), str(second), "--on", "local", "--parallel", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert sorted(run["name"].rsplit("/", 1)[1] for run in runs) == [first.name, second.name]
    assert {run["status"] for run in runs} == {"completed"}
    assert all(run["device"] == "cpu" and run["exit_code"] == 0 for run in runs)
    for root in (first, second):
        assert record(root)["status"] == "completed"
        with open(root / "logs" / "history.csv") as handle:
            assert [row["epoch"] for row in csv.DictReader(handle)] == ["1"]
        assert "training completed" in (root / "logs" / "local.log").read_text()
    again = runner.invoke(app, ["train", str(first), "--on", "local"])
    assert again.exit_code == 1 and "completed; nothing to start" in again.output
