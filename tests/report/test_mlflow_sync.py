"""``abyssexp mlflow sync`` against a real MLflow tracking server (``make test-mlflow`` starts one
on 127.0.0.1 with a sqlite backend and sets ABYSSEXP_MLFLOW_TEST_URI; without it, a sqlite file).

These run in the MLflow virtualenv, which has no TensorFlow: training and testing run in
``ABYSSEXP_TRAIN_PYTHON`` (the project's own virtualenv), as separate processes.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from abyssexp.cli import app
from tests.training.helpers import TINY

pytestmark = [pytest.mark.mlflow, pytest.mark.slow]
TRAIN_PYTHON = os.environ.get("ABYSSEXP_TRAIN_PYTHON", sys.executable)
_PROJECTS = itertools.count()
QUIET = [
    "--set",
    "callbacks.pr_curves=false",
    "--set",
    "callbacks.tfpn=false",
    "--set",
    "callbacks.log_images=0",
]


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return os.environ.get("ABYSSEXP_MLFLOW_TEST_URI") or f"sqlite:///{tmp_path}/mlflow.db"


@pytest.fixture
def project() -> str:
    """A project name of its own per test: the server outlives each test."""
    return f"mlf{os.getpid()}x{next(_PROJECTS)}"


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _new(runner, shapes, project: str, *extra: str, name: str = "tiny") -> Path:
    result = runner.invoke(
        app,
        ["new", project, "train", name, "--train", str(shapes["train"]), "--val"]
        + [str(shapes["val"]), *TINY, *QUIET, *extra],
    )
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


def _abyssexp(*args: str) -> subprocess.CompletedProcess:
    """abyssexp in the training virtualenv (TensorFlow), as users run it."""
    done = subprocess.run(
        [TRAIN_PYTHON, "-m", "abyssexp", *args], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _sync(runner, uri: str, *refs: str) -> list[dict]:
    result = runner.invoke(app, ["mlflow", "sync", *refs, "--tracking-uri", uri, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _run_of(root: Path, uri: str) -> str:
    return json.loads((root / "logs" / "mlflow.json").read_text())[uri]["run_id"]


def test_sync_three_experiments_a_sweep_trial_and_a_promoted_one(
    runner, scratch: Path, shapes, uri: str, project: str
) -> None:
    trained = _new(runner, shapes, project, "--set", "training.epochs=2")
    assert runner.invoke(app, ["tag", str(trained), "baseline"]).exit_code == 0
    _abyssexp("train", str(trained), "--quiet")
    _abyssexp("test", str(trained), "--coco", str(shapes["test"]), "--condition", "shapes")
    promoted = runner.invoke(app, ["promote", str(trained), "--alias", "candidate"])
    assert promoted.exit_code == 0, promoted.output
    runner.invoke(app, ["note", str(trained), "the first baseline"])
    child = _new(runner, shapes, project, "--from", str(trained), name="child")
    sweep = runner.invoke(
        app,
        ["sweep", "new", project, "train", "sw", "--from", str(trained)]
        + ["--grid", "training.lr=0.001,0.002"],
    )
    assert sweep.exit_code == 0, sweep.output
    trial = sorted((scratch / project / "train").glob("0*sw*"))[0]

    results = _sync(runner, uri, str(trained), str(child), str(trial))
    assert [r["created"] for r in results] == [True, True, True]
    client = _client(uri)
    experiment = client.get_experiment_by_name(f"{project}/train")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {trained.name, child.name, trial.name}
    main = runs[trained.name]
    assert main.info.status == "FINISHED"
    assert main.data.params["training.epochs"] == "2"
    assert main.data.params["model.backbone"] == "mobilenet"
    assert len(client.get_metric_history(main.info.run_id, "loss")) == 2
    assert [m.step for m in client.get_metric_history(main.info.run_id, "val_loss")] == [1, 2]
    test_keys = [k for k in main.data.metrics if k.startswith("test/shapes/")]
    assert "test/shapes/accuracy" in main.data.metrics, test_keys
    assert main.data.tags["abyssexp.path"] == str(trained)
    assert main.data.tags["abyssexp.promoted"] == "candidate"
    assert main.data.tags["abyssexp.tag.baseline"] == "true"
    assert main.data.tags["mlflow.note.content"] == "the first baseline"
    assert "mlflow.source.git.commit" in main.data.tags
    kid = runs[child.name]
    assert kid.data.tags["mlflow.parentRunId"] == main.info.run_id
    assert kid.info.status == "SCHEDULED"
    assert runs[trial.name].data.tags["abyssexp.sweep"].endswith("s001")

    again = _sync(runner, uri, str(trained), str(child), str(trial))
    assert [r["created"] for r in again] == [False, False, False]
    assert [r["run_id"] for r in again] == [r["run_id"] for r in results]
    assert [r["new_points"] for r in again] == [0, 0, 0]
    assert len(client.search_runs([experiment.experiment_id])) == 3
    assert len(client.get_metric_history(main.info.run_id, "loss")) == 2


def test_resync_after_a_resumed_run_adds_only_the_new_epochs(
    runner, scratch: Path, shapes, uri: str, project: str
) -> None:
    root = _new(runner, shapes, project, "--set", "training.epochs=1")
    _abyssexp("train", str(root), "--quiet")
    first = _sync(runner, uri, str(root))[0]
    run_id = first["run_id"]
    _abyssexp("train", str(root), "--quiet", "--resume", "--epochs", "3")
    second = _sync(runner, uri, str(root))[0]
    assert second["run_id"] == run_id and not second["created"]
    assert 0 < second["new_points"] and second["new_points"] == 2 * first["new_points"]
    client = _client(uri)
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [1, 2, 3]
    assert client.get_run(run_id).data.params["training.epochs"] == "1"
    assert client.get_run(run_id).data.tags.get("abyssexp.param.training.epochs") == "3"


def test_a_deleted_experiment_and_a_deleted_run(
    runner, scratch: Path, shapes, uri: str, project: str
) -> None:
    kept = _new(runner, shapes, project, name="kept")
    gone = _new(runner, shapes, project, name="gone")
    results = _sync(runner, uri, str(kept), str(gone))
    gone_run = results[1]["run_id"]
    client = _client(uri)
    # A run deleted in MLflow's UI comes back at the next sync, as a new run.
    client.delete_run(results[0]["run_id"])
    removed = runner.invoke(app, ["rm", str(gone), "--yes"])
    assert removed.exit_code == 0, removed.output
    outcome = {r["experiment"].rsplit("/", 1)[-1]: r for r in _sync(runner, uri, "--all")}
    assert outcome[kept.name]["created"] and outcome[kept.name]["run_id"] != results[0]["run_id"]
    assert outcome[gone.name]["deleted"] and outcome[gone.name]["run_id"] == gone_run
    assert client.get_run(gone_run).info.lifecycle_stage == "deleted"


@pytest.mark.parametrize("kind", ["folder", "sqlite"])
def test_file_and_sqlite_tracking_uris(runner, scratch: Path, shapes, tmp_path, kind) -> None:
    root = _new(runner, shapes, "local")
    uri = str(tmp_path / "mlruns") if kind == "folder" else f"sqlite:///{tmp_path}/x.db"
    first = _sync(runner, uri, str(root))[0]
    assert _sync(runner, uri, str(root))[0]["run_id"] == first["run_id"]
    client_uri = Path(uri).resolve().as_uri() if kind == "folder" else uri
    assert _client(client_uri).get_run(first["run_id"]).data.params["model.backbone"]
