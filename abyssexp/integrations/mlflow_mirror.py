"""``abyssexp mlflow sync``: mirror experiments into an MLflow tracking server's UI.

Each experiment becomes one MLflow run in the MLflow experiment ``PROJECT/TYPE``: its params
flattened as ``compare`` shows them, every epoch of ``logs/history.csv`` at its epoch step, the
test metrics of each condition (with their 95 % interval and n where ``metrics.json`` has them),
its tags, note, status, parent, git commit and folder. The folder stays the source of truth: the
run is rewritten from it at every sync, never read back.

Idempotent: the run id is kept in the experiment (``logs/mlflow.json``, one entry per tracking
URI, credentials never written), so a second sync updates that run, and only epochs after the
last synced one are logged. A run id read from that file is checked against the run it names
(its ``abyssexp.path`` tag must be this folder): a copied folder gets a run of its own, and a
damaged file is rebuilt by looking the run up by its tags. A lock per experiment folder holds
the find-or-create and the record together, so concurrent syncs make one run. The mirror owns
only its own runs: each carries ``abyssexp.scratch`` and ``abyssexp.host``, and ``--prune``
(with ``--all``) deletes only runs of this scratch on this host whose folder is gone (MLflow
keeps deleted runs restorable). The client (``pip install 'abyssexp[mlflow]'``) is imported only
here, when a sync runs; its HTTP retries are bounded to seconds.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from abyssexp.atomic import atomic_write_json
from abyssexp.errors import AbyssExpError, InvalidInputError
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.list_rows import (
    ListRow,
    experiment_row,
    read_params_dict,
)
from abyssexp.experiment.param_filters import flatten_params
from abyssexp.experiment.record_file import load_record
from abyssexp.processes import this_host
from abyssexp.results.compare import read_history_columns, read_provenance
from abyssexp.schemas.mirror_state import (
    MAX_SYNC_FILE_BYTES,
    RUN_ID_PATTERN,
    MirrorEntry,
    mirror_entries,
)
from abyssexp.schemas.record import Status
from abyssexp.schemas.results import METRICS_FILE, load_test_metrics

SYNC_FILE = "mlflow.json"
#: The files a run mirrors (``ExperimentPaths`` properties), besides ``testing/*/metrics.json``.
MIRRORED_SOURCES = ("record", "params", "history", "provenance", "readme")
INSTALL_HINT = "mlflow sync needs the MLflow client: pip install 'abyssexp[mlflow]'"
#: abyssexp status → MLflow run status (no "interrupted" or "pruned" there: KILLED is closest).
RUN_STATUS: dict[str, str] = {
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
#: An MLflow run id (a UUID's hex): anything else read from mlflow.json is not one.
RUN_ID = re.compile(RUN_ID_PATTERN)
#: MLflow's HTTP client retries 7 times with a growing backoff (minutes on a closed port) and
#: waits 120 s per request; a sync says what is wrong in seconds instead (each overridable).
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}
#: Tracking URI schemes a sync accepts (MLflow's stores; anything else is a typo).
URI_SCHEMES = ("http", "https", "file", "sqlite", "postgresql", "mysql", "mssql", "databricks")
#: Libraries whose errors mean "the tracking server or store said no", not a bug here.
_CLIENT_ERRORS = ("mlflow", "requests", "urllib3", "sqlalchemy", "sqlite3")


class MirrorError(AbyssExpError):
    """The tracking server or store could not be reached or refused a write."""


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
    #: Nothing the run mirrors changed since the last sync to this URI: no request was made.
    unchanged: bool = False


def load_client(tracking_uri: str | None) -> Any:
    """An ``MlflowClient`` for ``tracking_uri`` (a folder, ``sqlite:///...``, ``http://...``).

    Raises:
        InvalidInputError: MLflow is not installed (one line saying how to install it).
    """
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise InvalidInputError(INSTALL_HINT) from None
    for name, value in HTTP_LIMITS.items():
        os.environ.setdefault(name, value)
    uri = tracking_uri
    if uri and "://" not in uri and not uri.startswith("file:"):
        uri = Path(uri).resolve().as_uri()  # a plain folder: MLflow's file store
    if uri and uri.startswith("file:"):
        # MLflow 3 keeps its file store for those who ask for it: a folder given here is that.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(tracking_uri=uri)


def sync_experiments(
    scratch: Path,
    folders: list[Path],
    tracking_uri: str | None,
    prune_missing: bool = False,
    force: bool = False,
) -> list[SyncResult]:
    """Sync ``folders`` (experiment folders) into MLflow; parents go before their children.

    A folder whose mirrored files (``MIRRORED_SOURCES``) have the same stat fingerprint as at
    its last sync to this URI is skipped without a request, as git's index skips an unchanged
    file; ``force`` sends every run again (a run deleted in MLflow's UI is made anew).
    ``prune_missing`` (``--all --prune``): also delete the runs that this scratch made on this
    host and whose experiment folder is gone.

    Raises:
        MirrorError: the tracking server or store cannot be reached or refuses (one line).
    """
    client = load_client(tracking_uri)
    uri = client.tracking_uri if hasattr(client, "tracking_uri") else str(tracking_uri)
    ordered = sorted(folders, key=lambda f: (_created(f), str(f)))
    # MLflow prints "View run at ..." lines on stdout; the CLI's output (--json) is its own.
    with contextlib.redirect_stdout(io.StringIO()), _quiet_client_logs(), _client_errors(uri):
        client.search_experiments(max_results=1)  # unreachable: one line now, not per run
        known = _Known(experiments={}, runs=_RunsByPath())  # per MLflow experiment, not per run
        results = [_sync_one(client, uri, folder, scratch, known, force) for folder in ordered]
        if prune_missing:
            results += _delete_missing(client, scratch)
    return results


#: Loggers of the client's own that log an error, traceback and all, before raising it
#: (``mlflow.store.db.utils`` on a read-only sqlite store): the raised error becomes one line.
_CLIENT_LOGGERS = ("mlflow", "alembic", "sqlalchemy")


@contextlib.contextmanager
def _quiet_client_logs() -> Iterator[None]:
    """Hold back the client libraries' log records while a sync talks to them (their setup
    chatter, and an error logged with its traceback before it is raised); ``_client_errors``
    turns the error itself into one line."""
    import logging

    loggers = [logging.getLogger(name) for name in _CLIENT_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def _client_errors(uri: str) -> Iterator[None]:
    """MLflow's, requests' and SQLAlchemy's errors as one line naming the URI (credentials
    left out) and what to check; anything else is a bug and keeps its traceback."""
    try:
        yield
    except Exception as exc:
        if type(exc).__module__.split(".")[0] not in _CLIENT_ERRORS:
            raise
        first = next((line for line in str(exc).splitlines() if line.strip()), "")
        raise MirrorError(
            f"mlflow sync: {safe_uri(uri)}: {type(exc).__name__}: {first[:300]}; check that "
            "the tracking server runs and the store is writable (--tracking-uri)"
        ) from None


def _created(folder: Path) -> str:
    return _record_field(ExperimentPaths(folder), "created")


def _read_sync(paths: ExperimentPaths) -> dict[str, Any]:
    """``logs/mlflow.json`` as ``{uri: {run_id, experiment_id, epoch, sources}}``, read as a
    bounded regular file (a FIFO or ``/dev/zero`` there is not read), each entry through its
    schema (``schemas/mirror_state.py``). It is a cache of what MLflow holds: an entry that does
    not validate is left out, and the run is found again by its tags (``_owned_run``)."""
    from abyssexp.jsonio import parse_json, read_input_bytes

    try:
        raw = read_input_bytes(
            paths.logs / SYNC_FILE, SYNC_FILE, MirrorError, limit=MAX_SYNC_FILE_BYTES
        )
        data = parse_json(raw, SYNC_FILE, MirrorError, max_depth=4)
    except MirrorError:
        return {}
    return mirror_entries(data)


def safe_uri(uri: str) -> str:
    """``uri`` without a ``user:password@`` part: what mlflow.json and messages may hold."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def run_id_for(folder: Path, uri: str) -> str | None:
    """The MLflow run id recorded for ``folder`` at ``uri`` (None: never synced there)."""
    entry = _read_sync(ExperimentPaths(folder)).get(safe_uri(uri)) or {}
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
    if not run_id or not RUN_ID.match(run_id):
        return None
    try:
        run = client.get_run(run_id)
    except Exception:  # noqa: BLE001 - MLflow raises its own errors for a missing run
        return None
    return None if run.info.lifecycle_stage == "deleted" else run


def _owned_run(
    client: Any, run_id: str | None, experiment_id: str, folder: Path, runs: _RunsByPath
) -> Any:
    """The live run that mirrors ``folder``: the recorded one if its ``abyssexp.path`` tag names
    this folder (a copied folder's record names the original's run), else the newest live run of
    the MLflow experiment tagged with this folder and host (a lost or damaged mlflow.json)."""
    run = _live_run(client, run_id)
    if run is not None and run.data.tags.get("abyssexp.path") == str(folder):
        return run
    return runs.run_of(client, experiment_id, folder)


def sources_fingerprint(paths: ExperimentPaths) -> str:
    """The stat fingerprint (size, mtime, ctime, inode) of every file a run mirrors: taken
    before the files are read, so a change during a sync is sent by the next one."""
    import hashlib

    files = [getattr(paths, name) for name in MIRRORED_SOURCES]
    try:
        files += sorted(paths.testing.glob("*/metrics.json"))
    except OSError:
        pass
    lines = [str(paths.root)]  # a folder moved or copied elsewhere names another run
    for path in files:
        try:
            info = os.stat(path, follow_symlinks=False)
        except OSError:
            lines.append(f"{path.name}:-")
            continue
        stamp = f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}"
        lines.append(f"{path.relative_to(paths.root)}:{stamp}")
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()[:32]


@dataclass
class _Known:
    """What one sync learnt from the server once: MLflow experiment ids by name, runs by path."""

    experiments: dict[str, str]
    runs: _RunsByPath


def _sync_one(
    client: Any,
    uri: str,
    folder: Path,
    scratch: Path,
    known: _Known,
    force: bool = False,
) -> SyncResult:
    from abyssexp.locks import file_lock

    paths = ExperimentPaths(folder)
    with file_lock(paths.logs / ".mlflow.lock", timeout=120, what="MLflow mirror state"):
        fingerprint = sources_fingerprint(paths)
        entry = _read_sync(paths).get(safe_uri(uri)) or {}
        if not force and entry.get("sources") == fingerprint:
            name = "/".join(folder.parts[-3:])
            return SyncResult(name, entry["run_id"], False, 0, str(folder), unchanged=True)
        return _sync_locked(client, uri, paths, scratch, known, fingerprint)


def _sync_locked(
    client: Any,
    uri: str,
    paths: ExperimentPaths,
    scratch: Path,
    known: _Known,
    fingerprint: str,
) -> SyncResult:
    """Find or create the run, rewrite it from the folder, record its id: under the folder's
    lock, so two syncs at once update one run instead of creating two."""
    folder = paths.root
    project, experiment_type = folder.parent.parent.name, folder.parent.name
    row = experiment_row(project, experiment_type, folder)
    name = f"{project}/{experiment_type}/{folder.name}"
    key = safe_uri(uri)
    state = {k: v for k, v in _read_sync(paths).items() if safe_uri(k) == k}
    entry = state.get(key) or {}
    mlflow_name = f"{project}/{experiment_type}"
    if mlflow_name not in known.experiments:
        known.experiments[mlflow_name] = _mlflow_experiment(client, mlflow_name)
    experiment_id = known.experiments[mlflow_name]
    run = _owned_run(client, entry.get("run_id"), experiment_id, folder, known.runs)
    if run is None or run.info.run_id != entry.get("run_id"):
        entry = {}  # another run than recorded: its epochs are not known to be there
    created = run is None
    if run is None:
        run = client.create_run(
            experiment_id,
            start_time=_millis(row.get("created")),
            run_name=folder.name,
            tags={"abyssexp.path": str(folder), **_owner_tags(scratch)},
        )
    run_id = run.info.run_id
    batch = _RunBatch()
    _log_params(batch, run, paths)
    points, last_epoch = _log_history(batch, paths, int(entry.get("epoch") or 0))
    _log_tests(batch, run, paths, row)
    _set_tags(client, batch, run, row, paths, scratch)
    batch.send(client, run_id)
    _set_status(client, run_id, row, _record_field(paths, "finished"))
    synced = MirrorEntry(
        run_id=run_id, experiment_id=experiment_id, epoch=last_epoch, sources=fingerprint
    )
    state[key] = synced.model_dump()
    atomic_write_json(paths.logs / SYNC_FILE, state)
    return SyncResult(name, run_id, created, points, str(folder))


@dataclass
class _RunBatch:
    """What one sync logs to one run, sent in as few ``log_batch`` calls as MLflow's limits allow
    (100 params, 100 tags, 1,000 entries per call): one call for a typical run, as a plain
    client script would make."""

    params: list[Any] = field(default_factory=list)
    metrics: list[Any] = field(default_factory=list)
    tags: list[Any] = field(default_factory=list)

    def send(self, client: Any, run_id: str) -> None:
        params, metrics, tags = list(self.params), list(self.metrics), list(self.tags)
        while params or metrics or tags:
            some_params, params = params[:100], params[100:]
            some_tags, tags = tags[:100], tags[100:]
            room = 1000 - len(some_params) - len(some_tags)
            some_metrics, metrics = metrics[:room], metrics[room:]
            client.log_batch(run_id, metrics=some_metrics, params=some_params, tags=some_tags)


class _RunsByPath:
    """The runs of each MLflow experiment by their ``abyssexp.path`` tag, read with one paged
    search per experiment (not one per folder) the first time a folder has no usable record."""

    #: Runs read per MLflow experiment at most (a bound on memory, not on correctness: a folder
    #: not found here gets a new run, as one with a lost mlflow.json did before).
    LIMIT = 100_000

    def __init__(self) -> None:
        self._by_experiment: dict[str, dict[str, Any]] = {}

    def run_of(self, client: Any, experiment_id: str, folder: Path) -> Any:
        if experiment_id not in self._by_experiment:
            self._by_experiment[experiment_id] = self._read(client, experiment_id)
        return self._by_experiment[experiment_id].get(str(folder))

    def created(self, experiment_id: str, folder: Path, run: Any) -> None:
        self._by_experiment.setdefault(experiment_id, {})[str(folder)] = run

    def _read(self, client: Any, experiment_id: str) -> dict[str, Any]:
        host, found, token, seen = this_host(), {}, None, 0
        while seen < self.LIMIT:
            page = client.search_runs(
                [experiment_id],
                order_by=["attributes.start_time DESC"],
                max_results=1000,
                page_token=token,
            )
            for run in page:
                path = run.data.tags.get("abyssexp.path")
                if path and path not in found and run.data.tags.get("abyssexp.host", host) == host:
                    found[path] = run
            seen += len(page)
            token = getattr(page, "token", None)
            if not token:
                break
        return found


def _owner_tags(scratch: Path) -> dict[str, str]:
    """Which scratch and host made a run: the mirror deletes only runs that name its own."""
    return {"abyssexp.scratch": str(scratch.resolve()), "abyssexp.host": this_host()}


def _key(text: str) -> str:
    """An MLflow metric or tag key (letters, digits, ``_-. /``; 250 characters at most)."""
    return _BAD_KEY.sub("_", text)[:250]


def _log_params(batch: _RunBatch, run: Any, paths: ExperimentPaths) -> None:
    """Params not yet on the run; a value changed since (``train --set``) goes in a tag, as
    MLflow never changes a logged param."""
    from mlflow.entities import Param, RunTag

    logged = run.data.params
    flat = {_key(k): _text(v) for k, v in flatten_params(read_params_dict(paths.root)).items()}
    new = [Param(k, v) for k, v in flat.items() if k not in logged]
    changed = [RunTag(f"abyssexp.param.{k}", v) for k, v in flat.items() if logged.get(k, v) != v]
    batch.params += new
    batch.tags += changed


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:6000]


def _log_history(batch: _RunBatch, paths: ExperimentPaths, synced: int) -> tuple[int, int]:
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
    batch.metrics += points
    return len(points), max([synced, *epochs])


def _test_metrics(paths: ExperimentPaths, row: ListRow) -> dict[str, float]:
    """``test/CONDITION/METRIC`` values, with ``_low``, ``_high`` and ``_n`` from the condition's
    metrics.json ``intervals`` where it has them (older results have none)."""
    found: dict[str, float] = {}
    for condition, summary in (row.get("tests") or {}).items():
        for metric, value in (summary or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                found[_key(f"test/{condition}/{metric}")] = float(value)
        metrics = load_test_metrics(paths.testing / condition / METRICS_FILE)
        if metrics is None:
            continue
        intervals = metrics.get("intervals")
        for metric, interval in (intervals or {}).items():
            if not isinstance(interval, dict):
                continue
            for part in ("low", "high", "n", "ci_low", "ci_high"):
                value = interval.get(part)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    found[_key(f"test/{condition}/{metric}_{part}")] = float(value)
    return found


def _log_tests(batch: _RunBatch, run: Any, paths: ExperimentPaths, row: ListRow) -> None:
    """Test metrics at step 0, only those new or changed since the last sync."""
    from mlflow.entities import Metric

    latest = run.data.metrics
    stamp = int(time.time() * 1000)
    metrics = [
        Metric(key, value, stamp, 0)
        for key, value in _test_metrics(paths, row).items()
        if latest.get(key) != value
    ]
    batch.metrics += metrics


def _set_tags(
    client: Any,
    batch: _RunBatch,
    run: Any,
    row: ListRow,
    paths: ExperimentPaths,
    scratch: Path,
) -> None:
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
        **_owner_tags(scratch),
    }
    tags.update({f"abyssexp.tag.{_key(t)}": "true" for t in row["tags"]})
    tags.update(_caveat_tags(paths, row))
    for key in existing:  # a caveat, override or interval note the folder no longer has
        if key.startswith(CAVEAT_TAG_PREFIXES) and key not in tags:
            tags[key] = ""
    parent = row.get("parent")
    if parent:
        tags["abyssexp.parent"] = parent
        parent_run = _parent_run(paths, parent, client.tracking_uri)
        if parent_run:
            tags["mlflow.parentRunId"] = parent_run
    batch.tags += [RunTag(k, v) for k, v in tags.items() if v]
    # An empty value is no tag: one that was set before (an error since cleared) goes.
    for key in [k for k, v in tags.items() if not v and k in existing]:
        client.delete_tag(run_id, key)


#: Tags that say what to know before trusting a run's numbers; rewritten at every sync.
CAVEAT_TAG_PREFIXES = ("abyssexp.caveat.", "abyssexp.data_override", "abyssexp.interval.")


def _caveat_tags(paths: ExperimentPaths, row: ListRow) -> dict[str, str]:
    """``abyssexp.caveat.<condition>.<code>`` (the message) per caveat of each test,
    ``abyssexp.caveats`` (all codes), ``abyssexp.data_override`` (the ``new --force-data``
    problems) and ``abyssexp.interval.<condition>.<metric>`` where a metric's interval is too
    few to tell: a number mirrored without them would read as trustworthy."""
    from abyssexp.experiment.caveats import with_override_caveats

    overrides = _record_overrides(paths)
    tags: dict[str, str] = {}
    codes = []
    for condition, summary in sorted((row.get("tests") or {}).items()):
        caveats = with_override_caveats(list((summary or {}).get("caveats") or []), overrides)
        for item in caveats:
            if isinstance(item, dict) and item.get("code"):
                code = str(item["code"])
                tags[_key(f"abyssexp.caveat.{condition}.{code}")] = str(item.get("message"))[:5000]
                codes.append(f"{condition}:{code}")
        for metric, interval in ((summary or {}).get("intervals") or {}).items():
            if isinstance(interval, dict) and interval.get("low") is None and "low" in interval:
                reason = interval.get("reason") or "no interval"
                tags[_key(f"abyssexp.interval.{condition}.{metric}")] = f"too few to tell: {reason}"
    tags["abyssexp.caveats"] = ", ".join(codes)
    tags["abyssexp.data_override"] = "; ".join(
        f"{o.get('flag')}: {'; '.join(map(str, o.get('problems') or []))}" for o in overrides
    )[:5000]
    return tags


def _record_overrides(paths: ExperimentPaths) -> list[dict[str, Any]]:
    record = load_record(paths.record).record
    return [o.model_dump(mode="json") for o in record.data_overrides] if record else []


def _record_field(paths: ExperimentPaths, name: str) -> str:
    """A field of the record as text; empty when unset or the record does not read."""
    record = load_record(paths.record).record
    return str(getattr(record, name, None) or "") if record else ""


def _parent_run(paths: ExperimentPaths, parent: str, uri: str) -> str | None:
    """The run id of ``new --from``'s experiment at ``uri``, when it was synced there."""
    from abyssexp.experiment.refs import resolve_ref

    try:
        parent_paths = resolve_ref(parent, paths.scratch)
    except Exception:  # noqa: BLE001 - a parent since deleted: the tag alone says which it was
        return None
    return run_id_for(parent_paths.root, uri)


def _set_status(client: Any, run_id: str, row: ListRow, finished: str) -> None:
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


def _delete_missing(client: Any, scratch: Path) -> list[SyncResult]:
    """Delete the runs that this scratch made on this host (their ``abyssexp.scratch`` and
    ``abyssexp.host`` tags) whose experiment folder, under this scratch, is gone, in every
    MLflow experiment. A teammate's runs (another scratch or host) and runs from before the
    mirror tagged its owner are never touched; nothing is deleted while the scratch root itself
    is missing (an unmounted share)."""
    root = scratch.resolve()
    if not root.is_dir() or "'" in str(root):
        raise MirrorError(f"mlflow sync --prune: scratch root {scratch} is missing; not pruning")
    owner = _owner_tags(scratch)
    ids = [e.experiment_id for e in client.search_experiments(max_results=10000)]
    results = []
    for start in range(0, len(ids), 100):
        runs = client.search_runs(
            ids[start : start + 100],
            filter_string=f"tags.`abyssexp.scratch` = '{owner['abyssexp.scratch']}'",
            max_results=50000,
        )
        for run in runs:
            tags = run.data.tags
            path = tags.get("abyssexp.path")
            if not path or any(tags.get(k) != v for k, v in owner.items()):
                continue
            folder = Path(path)
            if folder.parent.parent.parent != root or folder.is_dir():
                continue
            client.delete_run(run.info.run_id)
            experiment = tags.get("abyssexp.experiment", path)
            results.append(SyncResult(experiment, run.info.run_id, False, 0, path, True))
    return results


def check_tracking_uri(uri: str | None, scratch: Path | None = None) -> None:
    """Refuse a tracking URI that MLflow would misread or that writes where it must not: an
    empty one (MLflow would pick its default), an unknown scheme, an http(s) URI without a host
    or with a bad port, a ``sqlite:`` URI without a file, and a folder (MLflow's file store)
    inside the scratch root, where it would sit among the experiments.

    Raises:
        InvalidInputError: one line naming the URI (credentials left out) and the forms accepted.
    """
    from urllib.parse import unquote, urlsplit

    if uri is None:
        return
    forms = "give a folder, sqlite:///FILE or http://HOST:PORT"
    shown = safe_uri(uri.strip())
    if not uri.strip() or any(ord(c) < 32 for c in uri):
        raise InvalidInputError(f"--tracking-uri {shown!r}: empty or control characters; {forms}")
    folder: Path | None = None
    if "://" in uri or uri.startswith("file:"):
        try:
            parts = urlsplit(uri)
            port = parts.port
        except ValueError as exc:
            raise InvalidInputError(f"--tracking-uri {shown!r}: {exc}; {forms}") from None
        scheme = parts.scheme.split("+", 1)[0]
        if scheme not in URI_SCHEMES:
            raise InvalidInputError(
                f"--tracking-uri {shown!r}: unknown scheme {parts.scheme!r} (one of "
                f"{', '.join(URI_SCHEMES)}); {forms}"
            )
        if scheme in ("http", "https") and (not parts.hostname or port == 0):
            raise InvalidInputError(f"--tracking-uri {shown!r}: no host or port; {forms}")
        if scheme == "sqlite" and parts.path in ("", "/"):
            raise InvalidInputError(f"--tracking-uri {shown!r}: no database file; {forms}")
        if scheme == "file":
            folder = Path(unquote(parts.path))
    else:
        folder = Path(uri)
    if folder is not None and scratch is not None:
        _refuse_inside_scratch(folder, scratch, shown)


def _refuse_inside_scratch(folder: Path, scratch: Path, shown: str) -> None:
    if folder.resolve().is_relative_to(scratch.resolve()):
        raise InvalidInputError(
            f"--tracking-uri {shown!r}: inside the scratch root {scratch}: MLflow's file store "
            "would sit among the experiments; give a folder outside it or sqlite:///FILE"
        )
