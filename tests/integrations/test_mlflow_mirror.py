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
    accept = "small_test_set,constant_predictions"  # a 2-epoch model on 24 images, accepted
    promoted = runner.invoke(
        app, ["promote", str(trained), "--alias", "candidate", "--accept", accept]
    )
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
    assert main.data.params["model.backbone"] == "tinycnn"
    assert len(client.get_metric_history(main.info.run_id, "loss")) == 2
    assert [m.step for m in client.get_metric_history(main.info.run_id, "val_loss")] == [1, 2]
    test_keys = [k for k in main.data.metrics if k.startswith("test/shapes/")]
    assert "test/shapes/accuracy" in main.data.metrics, test_keys
    assert main.data.tags["abyssexp.path"] == str(trained)
    assert main.data.tags["abyssexp.promoted"] == "candidate"
    assert main.data.tags["abyssexp.tag.baseline"] == "true"
    assert main.data.tags["mlflow.note.content"] == "the first baseline"
    assert "mlflow.source.git.commit" in main.data.tags
    # The caveats travel with the number (issue 29): one tag per caveat, and all codes.
    metrics = json.loads((trained / "testing" / "shapes" / "metrics.json").read_text())
    for caveat in metrics["caveats"]:
        code = caveat["code"]
        assert main.data.tags[f"abyssexp.caveat.shapes.{code}"] == caveat["message"]
        assert f"shapes:{code}" in main.data.tags["abyssexp.caveats"]
    assert "test/shapes/accuracy_low" in main.data.metrics
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
    # --all alone deletes nothing (issue 31 case 2); --prune deletes this scratch's own runs.
    plain = {r["experiment"].rsplit("/", 1)[-1]: r for r in _sync(runner, uri, "--all")}
    assert gone.name not in plain and client.get_run(gone_run).info.lifecycle_stage == "active"
    # Its files did not change: skipped without a request (issue 33), so --force re-sends it.
    assert plain[kept.name]["unchanged"]
    forced = {r["experiment"].rsplit("/", 1)[-1]: r for r in _sync(runner, uri, "--all", "--force")}
    assert forced[kept.name]["created"] and forced[kept.name]["run_id"] != results[0]["run_id"]
    client.delete_run(forced[kept.name]["run_id"])
    outcome = {
        r["experiment"].rsplit("/", 1)[-1]: r
        for r in _sync(runner, uri, "--all", "--prune", "--force")
    }
    assert (
        outcome[kept.name]["created"]
        and outcome[kept.name]["run_id"] != forced[kept.name]["run_id"]
    )
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


def test_a_data_override_is_tagged_and_goes_when_the_folder_loses_it(
    runner, scratch: Path, tmp_path: Path, uri: str, project: str
) -> None:
    from tests.datasets.fixtures_exports import write_detection_export

    splits = {"train": [["a"]] * 12 + [["a", "b"]] * 4, "valid": [["a"]] * 6 + [["a", "b"]] * 2}
    files = write_detection_export(tmp_path / "eggs", splits, ("a", "b"))
    made = runner.invoke(
        app,
        ["new", project, "train", "forced", "--train", str(files["train"])]
        + ["--val", str(files["valid"]), "--force-data"],
    )
    assert made.exit_code == 0, made.output
    root = Path(made.stdout.strip().splitlines()[-1])
    _sync(runner, uri, str(root))
    run = _client(uri).get_run(_run_of(root, uri))
    override = run.data.tags["abyssexp.data_override"]
    assert override.startswith("--force-data: ") and "class 'b'" in override
    record = json.loads((root / "record.json").read_text())
    record["data_overrides"] = []
    (root / "record.json").write_text(json.dumps(record))
    _sync(runner, uri, str(root))
    assert "abyssexp.data_override" not in _client(uri).get_run(run.info.run_id).data.tags


def test_the_mirror_owns_only_its_own_runs(
    runner, scratch: Path, shapes, tmp_path: Path, uri: str, project: str
) -> None:
    """Issue 31 case 2: a teammate's runs (another scratch, or another host) are never pruned,
    and nothing is pruned while the scratch root is missing."""
    import shutil

    mine = _new(runner, shapes, project, name="mine")
    my_run = _sync(runner, uri, str(mine))[0]["run_id"]
    other_scratch = tmp_path / "teammate"
    other = runner.invoke(app, ["new", project, "train", "theirs", "--scratch", str(other_scratch)])
    assert other.exit_code == 0, other.output
    theirs = Path(other.stdout.strip().splitlines()[-1])
    done = runner.invoke(
        app,
        ["mlflow", "sync", str(theirs), "--scratch", str(other_scratch), "--tracking-uri", uri]
        + ["--json"],
    )
    assert done.exit_code == 0, done.output
    their_run = json.loads(done.stdout)[0]["run_id"]
    shutil.rmtree(other_scratch)  # their folder is gone from this host: not ours to delete
    shutil.rmtree(mine)
    pruned = _sync(runner, uri, "--all", "--prune")
    assert [r["run_id"] for r in pruned if r["deleted"]] == [my_run]
    assert _client(uri).get_run(their_run).info.lifecycle_stage == "active"


def test_a_copied_folder_and_a_damaged_record_keep_one_run_each(
    runner, scratch: Path, shapes, uri: str, project: str
) -> None:
    """Issue 31 case 3: a copied experiment folder overwrote the original's run at every sync;
    a damaged logs/mlflow.json gave tracebacks or hung (a FIFO)."""
    import shutil

    root = _new(runner, shapes, project, name="orig")
    first = _sync(runner, uri, str(root))[0]
    copy = root.parent / root.name.replace("orig", "copy").replace("001", "002")
    shutil.copytree(root, copy)
    second = _sync(runner, uri, str(copy))[0]
    assert second["created"] and second["run_id"] != first["run_id"]
    client = _client(uri)
    assert client.get_run(first["run_id"]).data.tags["abyssexp.path"] == str(root)
    assert client.get_run(second["run_id"]).data.tags["abyssexp.path"] == str(copy)
    state = root / "logs" / "mlflow.json"
    for damage in ("{not json", '{"x": {"run_id": ["a"]}}', "[1, 2]", "fifo", "zero"):
        state.unlink()
        if damage == "fifo":
            os.mkfifo(state)
        elif damage == "zero":
            state.symlink_to("/dev/zero")
        else:
            state.write_text(damage)
        again = _sync(runner, uri, str(root))[0]  # found again by its tags: no duplicate run
        assert again["run_id"] == first["run_id"] and not again["created"], damage
        assert json.loads(state.read_text())[uri]["run_id"] == first["run_id"]


def test_credentials_are_never_written(runner, scratch: Path, shapes, uri: str, project) -> None:
    """Issue 31 case 3: ``user:pass@`` in the tracking URI was written into every mlflow.json."""
    if not uri.startswith("http://"):
        pytest.skip("needs the tracking server (make test-mlflow)")
    root = _new(runner, shapes, project, name="creds")
    with_user = uri.replace("http://", "http://someone:s3cret@")
    result = runner.invoke(app, ["mlflow", "sync", str(root), "--tracking-uri", with_user])
    assert result.exit_code == 0, result.output
    text = (root / "logs" / "mlflow.json").read_text()
    assert "s3cret" not in text and "someone" not in text and uri in text


def test_a_closed_port_is_one_line_in_seconds(runner, scratch: Path, shapes) -> None:
    """Issue 31 case 9: a closed port retried for 262 s, then printed 5 tracebacks."""
    import socket
    import time

    root = _new(runner, shapes, "closed", name="x")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    start = time.monotonic()
    result = runner.invoke(
        app, ["mlflow", "sync", str(root), "--tracking-uri", f"http://127.0.0.1:{port}"]
    )
    assert time.monotonic() - start < 60
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0], result.output
    assert "check that the tracking server runs" in lines[0]
    assert not (root / "logs" / "mlflow.json").exists()


def test_a_read_only_sqlite_store_is_one_line_in_seconds(
    runner, scratch: Path, shapes, tmp_path: Path
) -> None:
    """Issue 31 case 9: a read-only sqlite store took 125 s, then a traceback. As root a file's
    mode does not stop writes; an immutable file (``chattr +i``) does."""
    import shutil
    import time

    root = _new(runner, shapes, "readonly", name="ro")
    database = tmp_path / "ro.db"
    uri = f"sqlite:///{database}"
    _sync(runner, uri, str(root))
    assert runner.invoke(app, ["note", str(root), "changed since"]).exit_code == 0
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(database)]).returncode != 0:
        pytest.skip("chattr +i is not available here (a read-only store for root needs it)")
    try:
        start = time.monotonic()
        done = subprocess.run(  # a new process: MLflow's log handlers write to the real stderr
            [sys.executable, "-m", "abyssexp", "mlflow", "sync", str(root), "--tracking-uri", uri],
            capture_output=True,
            text=True,
            env={**os.environ, "ABYSSEXP_SCRATCH": str(scratch), "COLUMNS": "80"},
        )
        took = time.monotonic() - start
    finally:
        subprocess.run([chattr, "-i", str(database)])
    assert took < 60 and done.returncode == 1, (took, done.stderr)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "readonly database" in lines[0], done.stderr
    assert "store is writable" in lines[0] and "Traceback" not in done.stderr


def test_concurrent_syncs_make_one_run(runner, scratch: Path, shapes, uri: str, project) -> None:
    """Issue 31 case 3: four syncs at once created duplicate runs (no lock)."""
    root = _new(runner, shapes, project, name="race")
    env = {**os.environ, "ABYSSEXP_SCRATCH": str(scratch)}
    command = [sys.executable, "-m", "abyssexp", "mlflow", "sync", str(root), "--tracking-uri"]
    workers = [
        subprocess.Popen([*command, uri], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr.decode()[-2000:]
    client = _client(uri)
    experiment = client.get_experiment_by_name(f"{project}/train")
    runs = client.search_runs([experiment.experiment_id])
    assert len([r for r in runs if r.info.run_name == root.name]) == 1


class _CountingClient:
    """The real client, counting the calls the mirror makes through it."""

    def __init__(self, client) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def counted(*args, **kwargs):
            self.calls.append(name)
            return attribute(*args, **kwargs)

        return counted


def test_a_sync_with_nothing_changed_asks_the_server_once(
    runner, scratch: Path, shapes, uri: str, project: str, monkeypatch
) -> None:
    """Issue 33: the second sync of unchanged folders is decided from their stat fingerprints
    (one reachability request in all, none per run); a changed file re-sends its run only."""
    import abyssexp.integrations.mlflow_mirror as mirror

    roots = [_new(runner, shapes, project, name=f"n{i}") for i in range(3)]
    first = _sync(runner, uri, *map(str, roots))
    real = mirror.load_client
    counting: list[_CountingClient] = []

    def load(tracking_uri):
        counting.append(_CountingClient(real(tracking_uri)))
        return counting[-1]

    monkeypatch.setattr(mirror, "load_client", load)
    second = _sync(runner, uri, *map(str, roots))
    assert [r["unchanged"] for r in second] == [True, True, True]
    assert [r["run_id"] for r in second] == [r["run_id"] for r in first]
    assert counting[-1].calls == ["search_experiments"]
    note = runner.invoke(app, ["note", str(roots[1]), "changed purpose"])
    assert note.exit_code == 0, note.output
    third = _sync(runner, uri, *map(str, roots))
    assert [r["unchanged"] for r in third] == [True, False, True]
    assert third[1]["run_id"] == first[1]["run_id"] and not third[1]["created"]
