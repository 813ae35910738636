"""The experiment record: reading it safely, and one function per change of it.

Every change takes the record's lock and rewrites the file atomically, so a training process and a
``promote`` in another shell never lose each other's fields. A record that does not parse stops
every writer (``RecordUnreadableError``) rather than being read as empty and overwritten; readers
that list many experiments use ``load_record`` and show that one as ``unreadable``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from abyssexp.atomic import atomic_write_json
from abyssexp.errors import ExperimentStateError
from abyssexp.locks import file_lock
from abyssexp.processes import GONE, own_identity, owner_state, this_host
from abyssexp.schemas.record import (
    RECORD_VERSION,
    BestMetric,
    ParamsChange,
    Promotion,
    Record,
    SlurmJob,
    Status,
)
from abyssexp.schemas.results import ConditionSummary
from abyssexp.slurm import JobState

STALE_HEARTBEAT_S = 600.0
RECORD_LOCK = ".record.lock"
_MAX_ERROR_CHARS = 2000

__all__ = [
    "RECORD_VERSION",
    "RecordUnreadableError",
    "Status",
    "effective_status",
    "load_record",
    "read_record",
]


class RecordUnreadableError(ExperimentStateError):
    """record.json is missing, does not parse, or has a field of the wrong type."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_record(path: Path) -> Record:
    """The record at ``path``.

    Raises:
        RecordUnreadableError: missing, not JSON, not an object, or a field of the wrong type.
    """
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read())
    except FileNotFoundError:
        raise RecordUnreadableError(f"{path}: missing; is this an abyssexp experiment?") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise RecordUnreadableError(
            f"{path}: does not parse ({type(exc).__name__}); restore it from a backup, or fix "
            "it by hand (`abyssexp show` lists what it should hold)"
        ) from None
    except OSError as exc:
        raise RecordUnreadableError(f"{path}: cannot be read ({exc.strerror})") from None
    if not isinstance(data, dict):
        raise RecordUnreadableError(
            f"{path}: expected a JSON object. Received: {type(data).__name__}"
        )
    try:
        return Record.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(part) for part in problem["loc"])
        raise RecordUnreadableError(
            f"{path}: field {field}: {problem['msg']} (got {problem.get('input')!r:.60}); "
            "fix that field by hand"
        ) from None


@dataclass(frozen=True)
class LoadedRecord:
    """A record for listing: the record, or why it could not be read."""

    record: Record | None
    problem: str | None = None

    @property
    def status(self) -> str:
        return effective_status(self.record) if self.record else Status.UNREADABLE.value


def load_record(path: Path) -> LoadedRecord:
    """Read a record for ``list`` and ``show``: never raises for a broken file."""
    try:
        return LoadedRecord(read_record(path))
    except RecordUnreadableError as exc:
        return LoadedRecord(None, str(exc))


def _change(path: Path, change: Callable[[Record], None]) -> Record:
    """Apply ``change`` under the record's lock and write the result atomically."""
    with file_lock(path.with_name(RECORD_LOCK), what="experiment record"):
        record = read_record(path)
        change(record)
        atomic_write_json(path, record.to_json())
        return record


def create_record(path: Path, **fields: Any) -> Record:
    """Write a new experiment's record (status ``new``)."""
    record = Record(record_version=RECORD_VERSION, status=Status.NEW, **fields)
    atomic_write_json(path, record.to_json())
    return record


def mark_running(path: Path, epochs_total: int) -> Record:
    def change(record: Record) -> None:
        record.status = Status.RUNNING
        record.pid, record.pid_start = own_identity()
        record.host = this_host()
        record.heartbeat_unix = time.time()
        record.started = utc_now()
        record.epochs_total = epochs_total
        record.error = None

    return _change(path, change)


def record_epoch(
    path: Path,
    epochs_done: int,
    epochs_total: int | None,
    best: BestMetric | None,
    last_metrics: dict[str, float],
) -> Record:
    def change(record: Record) -> None:
        record.epochs_done = epochs_done
        if epochs_total is not None:
            record.epochs_total = epochs_total
        record.best = best
        record.last_metrics = last_metrics
        record.heartbeat_unix = time.time()

    return _change(path, change)


def record_heartbeat(path: Path) -> Record:
    return _change(path, lambda record: setattr(record, "heartbeat_unix", time.time()))


def add_training_time(path: Path, seconds: float, images: int) -> Record:
    """Add one ``train`` invocation's fitting time and images to the record's totals, so time
    and throughput of a resumed run add up rather than restart."""

    def change(record: Record) -> None:
        record.train_seconds = round((record.train_seconds or 0.0) + seconds, 3)
        record.train_images = (record.train_images or 0) + images

    return _change(path, change)


def mark_completed(path: Path, disk_bytes: int) -> Record:
    def change(record: Record) -> None:
        record.status = Status.COMPLETED
        record.finished = utc_now()
        record.disk_bytes = disk_bytes

    return _change(path, change)


def mark_interrupted(path: Path, reason: str) -> Record:
    def change(record: Record) -> None:
        record.status = Status.INTERRUPTED
        record.error = reason

    return _change(path, change)


def mark_pruned(path: Path, reason: str) -> Record:
    """The pruner of an Optuna sweep stopped the trial: a final status of its own."""

    def change(record: Record) -> None:
        record.status = Status.PRUNED
        record.finished = utc_now()
        record.error = reason

    return _change(path, change)


def mark_failed(path: Path, error: str) -> Record:
    def change(record: Record) -> None:
        record.status = Status.FAILED
        record.error = error[:_MAX_ERROR_CHARS]

    return _change(path, change)


def record_test(path: Path, condition: str, summary: ConditionSummary) -> Record:
    def change(record: Record) -> None:
        record.tests = {**record.tests, condition: summary}

    return _change(path, change)


def record_promotion(path: Path, promotion: Promotion) -> Record:
    """Add a promotion once: a retry that finishes an interrupted promotion adds nothing."""

    def change(record: Record) -> None:
        if all(p.path != promotion.path for p in record.promotions):
            record.promotions = [*record.promotions, promotion]

    return _change(path, change)


def record_params_change(path: Path, change: ParamsChange) -> Record:
    """Keep the trace of a ``train`` that changed params.json (params are the identity)."""

    def apply(record: Record) -> None:
        record.params_changes = [*record.params_changes, change]

    return _change(path, apply)


def set_tags(path: Path, add: Sequence[str] = (), remove: Sequence[str] = ()) -> Record:
    """Add and remove tags (kept sorted and unique)."""

    def change(record: Record) -> None:
        record.tags = sorted((set(record.tags) | set(add)) - set(remove))

    return _change(path, change)


def set_note(path: Path, note: str) -> Record:
    """Replace the purpose (the record's ``note``; readme.txt is edited beside it)."""
    return _change(path, lambda record: setattr(record, "note", note))


def record_submission(path: Path, job: SlurmJob) -> Record:
    """Remember the Slurm job that will run this experiment (the latest replaces the previous)."""
    return _change(path, lambda record: setattr(record, "slurm", job))


def promoted_checkpoints(record: Record) -> set[str]:
    """Checkpoint names this experiment has promoted (never pruned)."""
    return {p.checkpoint for p in record.promotions if p.checkpoint}


def effective_status(record: Record | dict[str, Any], now: float | None = None) -> str:
    """The status to show: a ``running`` record whose process is gone (on this host) or whose
    heartbeat is stale is ``crashed``."""
    if isinstance(record, dict):
        record = Record.model_validate(record)
    if record.status != Status.RUNNING:
        return record.status.value
    return running_status(record.host, record.pid, record.heartbeat_unix, now, record.pid_start)


def running_status(
    host: str | None,
    pid: int | None,
    heartbeat_unix: float | None,
    now: float | None = None,
    pid_start: int | None = None,
) -> str:
    """``running``, or ``crashed`` when the process is gone (``processes.owner_state``: on this
    host, by pid and start time) or its heartbeat is stale: what a ``running`` record shows (the
    index keeps these fields for it)."""
    now = time.time() if now is None else now
    if owner_state(host, pid, pid_start) == GONE:
        return Status.CRASHED.value
    if heartbeat_unix is not None and now - heartbeat_unix > STALE_HEARTBEAT_S:
        return Status.CRASHED.value
    return Status.RUNNING.value


def status_with_job(
    status: str, started: str | None, submitted: str, job: JobState | None
) -> tuple[str, str | None]:
    """The status to show for an experiment submitted to Slurm, and Slurm's reason if any.

    ``status`` is what the record alone gives (``effective_status``); ``job`` is what Slurm says
    now about the latest job (None when Slurm no longer knows it, or is not here). A pending job
    is ``queued``; a job whose processes run is ``running``. A job that ended before training
    recorded how it ended (the record still says ``running``, or training never started since the
    submission) is ``crashed`` with Slurm's words: ``CANCELLED``, ``TIMEOUT``, ``OUT_OF_MEMORY``,
    ``NODE_FAIL``, ``FAILED (killed by signal 9)``. Otherwise the record's own status stands,
    with Slurm's state as a note when the job did not end ``COMPLETED``.
    """
    if job is None:
        return status, None
    ran = started is not None and started >= submitted
    final = status in (Status.COMPLETED, Status.FAILED, Status.INTERRUPTED, Status.PRUNED)
    if job.pending:  # why it waits, when Slurm says: Resources, Priority, JobArrayTaskLimit...
        waiting = job.reason not in ("", "None")
        return Status.QUEUED.value, (f"slurm job {job.job_id}: {job.reason}" if waiting else None)
    if job.active:
        return (status if ran and final else Status.RUNNING.value), None
    reason = f"slurm job {job.job_id}: {job.describe()}"
    if not ran or not final:
        return Status.CRASHED.value, reason
    return status, (None if job.state == "COMPLETED" else reason)
