"""``abyssexp mlflow sync``: mirror experiments into an MLflow tracking server's UI.

Each experiment becomes one MLflow run in the MLflow experiment ``PROJECT/TYPE``: its params
flattened as ``compare`` shows them, every epoch of ``logs/history.csv`` at its epoch step, the
test metrics of each condition (with their 95 % interval and n where ``metrics.json`` has them),
its tags, note, status, parent, git commit and folder. The folder stays the source of truth: the
run is rewritten from it at every sync, never read back.

Idempotent: the run id is kept in the experiment (``logs/mlflow.json``, one entry per tracking
URI), so a second sync updates that run, and only epochs after the last synced one are logged.
A run deleted in MLflow is made again; with ``--all``, runs whose folder is gone are deleted
(MLflow keeps deleted runs restorable). The client (``pip install 'abyssexp[mlflow]'``) is
imported only here, when a sync runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from abyssexp.atomic import atomic_write_json
from abyssexp.errors import InvalidInputError
from abyssexp.experiment.compare import read_history_columns, read_provenance
from abyssexp.experiment.experiment_list import (
    experiment_row,
    iter_experiment_dirs,
    read_params_dict,
)
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.listing import flatten_params
from abyssexp.schemas.record import Status

SYNC_FILE = "mlflow.json"
INSTALL_HINT = "mlflow sync needs the MLflow client: pip install 'abyssexp[mlflow]'"
#: abyssexp status → MLflow run status (no "interrupted" or "pruned" there: KILLED is closest).
RUN_STATUS = {
    Status.NEW: "SCHEDULED",
    Status.QUEUED: "SCHEDULED",
    Status.RUNNING: "RUNNING",
    Status.COMPLETED: "FINISHED",
    Status.FAILED: "FAILED",
    Status.CRASHED: "FAILED",
    Status.UNREADABLE: "FAILED",
    Status.INTERRUPTED: "KILLED",
    Status.PRUNED: "KILLED",
}
_TERMINAL = {"FINISHED", "FAILED", "KILLED"}
_BAD_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")


@dataclass
class SyncResult:
    """What one sync did to one experiment."""

    experiment: str
    run_id: str
    created: bool
    new_points: int
    path: str
    deleted: bool = False
    notes: list[str] = field(default_factory=list)


def load_client(tracking_uri: str | None) -> Any:
    """An ``MlflowClient`` for ``tracking_uri`` (a folder, ``sqlite:///...``, ``http://...``).

    Raises:
        InvalidInputError: MLflow is not installed (one line saying how to install it).
    """
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise InvalidInputError(INSTALL_HINT) from None
    import os

    uri = tracking_uri
    if uri and "://" not in uri and not uri.startswith("file:"):
        uri = Path(uri).resolve().as_uri()  # a plain folder: MLflow's file store
    if uri and uri.startswith("file:"):
        # MLflow 3 keeps its file store for those who ask for it: a folder given here is that.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(tracking_uri=uri)


def sync_experiments(
    scratch: Path, folders: list[Path], tracking_uri: str | None, prune_missing: bool = False
) -> list[SyncResult]:
    """Sync ``folders`` (experiment folders) into MLflow; parents go before their children.

    ``prune_missing`` (``--all``): also delete the runs of the touched MLflow experiments whose
    experiment folder no longer exists.
    """
    client = load_client(tracking_uri)
    uri = client.tracking_uri if hasattr(client, "tracking_uri") else str(tracking_uri)
    ordered = sorted(folders, key=lambda f: (_created(f), str(f)))
    # MLflow prints "View run at ..." lines on stdout; the CLI's output (--json) is its own.
    with contextlib.redirect_stdout(io.StringIO()):
        results = [_sync_one(client, uri, folder) for folder in ordered]
        if prune_missing:
            names = {r.experiment.rsplit("/", 1)[0] for r in results}
            names |= {f"{p}/{t}" for p, t, _ in iter_experiment_dirs(scratch)}
            results += _delete_missing(client, names)
    return results


def all_experiment_folders(scratch: Path) -> list[Path]:
    return [folder for _, _, folder in iter_experiment_dirs(scratch)]


def _created(folder: Path) -> str:
    try:
        return str(json.loads((folder / "record.json").read_text()).get("created") or "")
    except (OSError, ValueError, AttributeError):
        return ""


def _read_sync(paths: ExperimentPaths) -> dict[str, Any]:
    try:
        data = json.loads((paths.logs / SYNC_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_id_for(folder: Path, uri: str) -> str | None:
    """The MLflow run id recorded for ``folder`` at ``uri`` (None: never synced there)."""
    entry = _read_sync(ExperimentPaths(folder)).get(uri) or {}
    return entry.get("run_id")


def _mlflow_experiment(client: Any, name: str) -> str:
    """The id of the MLflow experiment ``name``, created (or restored) when needed."""
    found = client.get_experiment_by_name(name)
    if found is None:
        # MLflow 3's UI opens an experiment of this kind on its runs (else on GenAI traces).
        return client.create_experiment(
            name, tags={"mlflow.experimentKind": "custom_model_development"}
        )
    if found.lifecycle_stage == "deleted":
        client.restore_experiment(found.experiment_id)
    return found.experiment_id


def _live_run(client: Any, run_id: str | None) -> Any:
    if not run_id:
        return None
    try:
        run = client.get_run(run_id)
    except Exception:  # noqa: BLE001 - MLflow raises its own errors for a missing run
        return None
    return None if run.info.lifecycle_stage == "deleted" else run


def _sync_one(client: Any, uri: str, folder: Path) -> SyncResult:
    paths = ExperimentPaths(folder)
    project, experiment_type = folder.parent.parent.name, folder.parent.name
    row = experiment_row(project, experiment_type, folder)
    name = f"{project}/{experiment_type}/{folder.name}"
    state = _read_sync(paths)
    entry = state.get(uri) or {}
    experiment_id = _mlflow_experiment(client, f"{project}/{experiment_type}")
    run = _live_run(client, entry.get("run_id"))
    created = run is None
    if created:
        run = client.create_run(
            experiment_id, start_time=_millis(row.get("created")), run_name=folder.name
        )
        entry = {}
    run_id = run.info.run_id
    _log_params(client, run, paths)
    points, last_epoch = _log_history(client, run_id, paths, int(entry.get("epoch") or 0))
    _log_tests(client, run, paths, row)
    _set_tags(client, run, row, paths, uri)
    _set_status(client, run_id, row, _record_field(paths, "finished"))
    state[uri] = {"run_id": run_id, "experiment_id": experiment_id, "epoch": last_epoch}
    atomic_write_json(paths.logs / SYNC_FILE, state)
    return SyncResult(name, run_id, created, points, str(folder))


def _key(text: str) -> str:
    """An MLflow metric or tag key (letters, digits, ``_-. /``; 250 characters at most)."""
    return _BAD_KEY.sub("_", text)[:250]


def _log_params(client: Any, run: Any, paths: ExperimentPaths) -> None:
    """Params not yet on the run; a value changed since (``train --set``) goes in a tag, as
    MLflow never changes a logged param."""
    from mlflow.entities import Param, RunTag

    logged = run.data.params
    flat = {_key(k): _text(v) for k, v in flatten_params(read_params_dict(paths.root)).items()}
    new = [Param(k, v) for k, v in flat.items() if k not in logged]
    changed = [RunTag(f"abyssexp.param.{k}", v) for k, v in flat.items() if logged.get(k, v) != v]
    for start in range(0, len(new), 100):
        client.log_batch(run.info.run_id, params=new[start : start + 100])
    if changed:
        client.log_batch(run.info.run_id, tags=changed)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:6000]


def _log_history(client: Any, run_id: str, paths: ExperimentPaths, synced: int) -> tuple[int, int]:
    """Every history.csv value of epochs after ``synced``, at its epoch step.

    Returns:
        (points logged, last epoch now synced).
    """
    from mlflow.entities import Metric

    columns = read_history_columns(paths.history)
    epochs = [int(e) for e in columns.pop("epoch", []) if e == e]
    stamp = int(time.time() * 1000)
    points = [
        Metric(_key(key), values[index], stamp, epoch)
        for index, epoch in enumerate(epochs)
        if epoch > synced
        for key, values in columns.items()
        if index < len(values) and values[index] == values[index]  # NaN: no value that epoch
    ]
    for start in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=points[start : start + 1000])
    return len(points), max([synced, *epochs])


def _test_metrics(paths: ExperimentPaths, row: dict[str, Any]) -> dict[str, float]:
    """``test/CONDITION/METRIC`` values, with ``_low``, ``_high`` and ``_n`` from the condition's
    metrics.json ``intervals`` where it has them (older results have none)."""
    found: dict[str, float] = {}
    for condition, summary in (row.get("tests") or {}).items():
        for metric, value in (summary or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                found[_key(f"test/{condition}/{metric}")] = float(value)
        try:
            metrics = json.loads((paths.testing / condition / "metrics.json").read_text())
        except (OSError, ValueError):
            continue
        intervals = metrics.get("intervals") if isinstance(metrics, dict) else None
        for metric, interval in (intervals or {}).items():
            if not isinstance(interval, dict):
                continue
            for part in ("low", "high", "n", "ci_low", "ci_high"):
                value = interval.get(part)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    found[_key(f"test/{condition}/{metric}_{part}")] = float(value)
    return found


def _log_tests(client: Any, run: Any, paths: ExperimentPaths, row: dict[str, Any]) -> None:
    """Test metrics at step 0, only those new or changed since the last sync."""
    from mlflow.entities import Metric

    latest = run.data.metrics
    stamp = int(time.time() * 1000)
    metrics = [
        Metric(key, value, stamp, 0)
        for key, value in _test_metrics(paths, row).items()
        if latest.get(key) != value
    ]
    if metrics:
        client.log_batch(run.info.run_id, metrics=metrics)


def _set_tags(client: Any, run: Any, row: dict[str, Any], paths: ExperimentPaths, uri: str) -> None:
    from mlflow.entities import RunTag

    run_id, existing = run.info.run_id, run.data.tags
    provenance = read_provenance(paths)
    git = provenance.get("git") or {}
    tags = {
        "abyssexp.experiment": f"{row['project']}/{row['type']}/{row['name']}",
        "abyssexp.path": str(paths.root),
        "abyssexp.status": row["status"],
        "abyssexp.tags": ", ".join(row["tags"]),
        "mlflow.note.content": _record_field(paths, "note"),
        "mlflow.source.git.commit": git.get("commit") or "",
        "abyssexp.git.branch": git.get("branch") or "",
        "abyssexp.git.dirty": str(git["dirty"]) if "dirty" in git else "",
        "abyssexp.sweep": row.get("sweep") or "",
        "abyssexp.promoted": ", ".join(row["aliases"]) if row["promoted"] else "",
        "abyssexp.error": (row.get("error") or "")[:5000],
    }
    tags.update({f"abyssexp.tag.{_key(t)}": "true" for t in row["tags"]})
    parent = row.get("parent")
    if parent:
        tags["abyssexp.parent"] = parent
        parent_run = _parent_run(paths, parent, uri)
        if parent_run:
            tags["mlflow.parentRunId"] = parent_run
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items() if v])
    # An empty value is no tag: one that was set before (an error since cleared) goes.
    for key in [k for k, v in tags.items() if not v and k in existing]:
        client.delete_tag(run_id, key)


def _record_field(paths: ExperimentPaths, name: str) -> str:
    try:
        return str(json.loads(paths.record.read_text()).get(name) or "")
    except (OSError, ValueError, AttributeError):
        return ""


def _parent_run(paths: ExperimentPaths, parent: str, uri: str) -> str | None:
    """The run id of ``new --from``'s experiment at ``uri``, when it was synced there."""
    from abyssexp.experiment.refs import resolve_ref

    try:
        parent_paths = resolve_ref(parent, paths.scratch)
    except Exception:  # noqa: BLE001 - a parent since deleted: the tag alone says which it was
        return None
    return run_id_for(parent_paths.root, uri)


def _set_status(client: Any, run_id: str, row: dict[str, Any], finished: str) -> None:
    status = RUN_STATUS.get(row["status"], "FAILED")
    if status in _TERMINAL:
        client.set_terminated(run_id, status=status, end_time=_millis(finished))
    else:
        client.update_run(run_id, status=status)


def _millis(stamp: str | None) -> int | None:
    if not stamp:
        return None
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _delete_missing(client: Any, names: set[str]) -> list[SyncResult]:
    """Delete the runs of these MLflow experiments whose experiment folder is gone."""
    results = []
    for name in sorted(names):
        found = client.get_experiment_by_name(name)
        if found is None:
            continue
        for run in client.search_runs([found.experiment_id], max_results=5000):
            path = run.data.tags.get("abyssexp.path")
            if path and not Path(path).is_dir():
                client.delete_run(run.info.run_id)
                experiment = run.data.tags.get("abyssexp.experiment", path)
                results.append(SyncResult(experiment, run.info.run_id, False, 0, path, True))
    return results


def check_tracking_uri(uri: str | None) -> None:
    """Refuse an empty ``--tracking-uri`` before MLflow picks its default."""
    if uri is not None and not uri.strip():
        raise InvalidInputError("--tracking-uri: empty; give a folder, sqlite:///FILE or URL")
