"""``list_experiments``: every experiment at a glance, from the small record files only.

Never imports TensorFlow: listing 5,000 experiments must stay well under a second.
"""

from __future__ import annotations

import fnmatch
import gc
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from abyssexp.errors import InvalidInputError, printable
from abyssexp.experiment.jobs import apply_job_states
from abyssexp.experiment.layout import ARCHIVE_DIR, MODELS_DIR, PARAMS_FILE, ExperimentPaths
from abyssexp.experiment.naming import parse_name
from abyssexp.experiment.record_file import LoadedRecord, load_record
from abyssexp.jsonio import MAX_SMALL_JSON_BYTES, read_input_bytes
from abyssexp.schemas.record import Status


def _subdirs(path: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir() and not entry.name.startswith("."):
                    yield entry
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while many experiments are read: every row is a few small
    dicts kept until the command ends, and the collector would scan all of them again each time
    a few hundred more were made (time growing faster than the number of experiments). Rows
    hold no reference cycles, so nothing waits for the collector; it resumes afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def iter_experiment_dirs(
    scratch: Path, project: str | None = None, experiment_type: str | None = None
) -> Iterator[tuple[str, str, Path]]:
    """(project, type, folder) for every experiment folder, patterns allowed in the filters."""
    for project_entry in _subdirs(scratch):
        if project and not fnmatch.fnmatchcase(project_entry.name, project):
            continue
        for type_entry in _subdirs(Path(project_entry.path)):
            if experiment_type and not fnmatch.fnmatchcase(type_entry.name, experiment_type):
                continue
            for entry in _subdirs(Path(type_entry.path)):
                if parse_name(entry.name):
                    yield project_entry.name, type_entry.name, Path(entry.path)


def experiment_row(
    project: str, experiment_type: str, folder: Path, loaded: LoadedRecord | None = None
) -> dict[str, Any]:
    """One listing row from ``record.json`` (``loaded``: the record when the caller has read it
    already, so that ``compare`` reads each record once)."""
    loaded = loaded or load_record(ExperimentPaths(folder).record)
    name = parse_name(folder.name)
    record = loaded.record.to_json() if loaded.record else {}
    best = record.get("best") or {}
    tests = record.get("tests") or {}
    promotions = record.get("promotions") or []
    note = printable(str(record.get("note") or "")).strip().splitlines()
    return {
        "project": project,
        "type": experiment_type,
        "name": folder.name,
        "number": name.number if name else None,
        "path": str(folder),
        "status": loaded.status,
        "created": record.get("created"),
        "parent": record.get("parent"),
        "epochs_done": record.get("epochs_done", 0),
        "epochs_total": record.get("epochs_total"),
        "best_metric": best.get("metric"),
        "best_value": best.get("value"),
        "best_epoch": best.get("epoch"),
        "tests": tests,
        "promoted": bool(promotions),
        "aliases": sorted({a for p in promotions for a in p.get("aliases", [])}),
        "disk_bytes": record.get("disk_bytes"),
        "note": note[0] if note else "",
        "tags": list(record.get("tags") or []),
        "error": loaded.problem or record.get("error"),
        "changed": {},
        "started": record.get("started"),
        "sweep": record.get("sweep"),
        "slurm": record.get("slurm"),
        "status_reason": None,
    }


def list_experiments(
    scratch: Path,
    project: str | None = None,
    experiment_type: str | None = None,
    status: str | None = None,
    sort: str = "created",
    tags: list[str] | None = None,
    archived: bool = False,
) -> list[dict[str, Any]]:
    """Rows for ``abyssexp list``.

    Args:
        scratch: the scratch root.
        project: project name or glob; None for all.
        experiment_type: experiment type or glob; None for all.
        status: comma-separated statuses to keep (see ``abyssexp.schemas.record.Status``).
        sort: one of ``SORT_KEYS``, prefixed with ``-`` to reverse.
        tags: keep experiments carrying every one of these tags.
        archived: list ``<scratch>/.archive/`` instead of the scratch tree.

    Returns:
        One dict per experiment, sorted.

    Raises:
        InvalidInputError: an unknown status or sort key (the valid ones are listed).
    """
    wanted = parse_statuses(status) if status else None
    check_sort_key(sort)
    root = scratch / ARCHIVE_DIR if archived else scratch
    with collector_paused():
        found = iter_experiment_dirs(root, project, experiment_type)
        rows = [experiment_row(p, t, f) for p, t, f in found]
    apply_job_states(rows)  # one squeue/sacct for every row with a Slurm job
    if wanted:
        rows = [row for row in rows if row["status"] in wanted]
    if tags:
        rows = [row for row in rows if set(tags) <= set(row["tags"])]
    return sort_rows(rows, sort)


#: The fields of a listing row (``--filter`` may name them).
ROW_FIELDS = (
    "project",
    "type",
    "name",
    "number",
    "path",
    "status",
    "created",
    "parent",
    "epochs_done",
    "epochs_total",
    "best_metric",
    "best_value",
    "best_epoch",
    "promoted",
    "disk_bytes",
    "note",
    "tags",
)
SORT_KEYS = ("created", "name", "number", "status", "best", "project")


def parse_statuses(text: str) -> set[str]:
    """``completed,failed`` → the statuses, each checked against ``Status``."""
    valid = [s.value for s in Status]
    wanted = {s.strip() for s in text.split(",") if s.strip()}
    unknown = sorted(wanted - set(valid))
    if unknown:
        raise InvalidInputError(
            f"--status: unknown status {', '.join(unknown)} (valid: {', '.join(valid)})"
        )
    return wanted


def check_sort_key(sort: str) -> None:
    if sort.lstrip("-") not in SORT_KEYS:
        raise InvalidInputError(
            f"--sort: unknown key {sort!r} (valid: {', '.join(SORT_KEYS)}; prefix - to reverse)"
        )


def sort_rows(rows: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    reverse = sort.startswith("-")
    key = sort.lstrip("-")

    def by(row: dict[str, Any]) -> Any:
        if key == "best":
            return (row["best_value"] is None, row["best_value"] or 0.0)
        if key in ("name", "number"):
            return (row["project"], row["type"], row["number"] or 0)
        value = row.get(key)
        return (value is None, value if value is not None else "")

    return sorted(rows, key=by, reverse=reverse)


_PARAMS_TAIL = os.sep + os.path.join(MODELS_DIR, PARAMS_FILE)


def read_params_dict(folder: Path | str) -> dict[str, Any]:
    """params.json as a plain dict ({} when missing, broken or past its bound) for --changed /
    --filter.

    Read from a joined string, not through ``Path``: ``compare`` and ``list --changed`` read one
    per experiment."""
    try:
        raw = read_input_bytes(
            f"{folder}{_PARAMS_TAIL}", "params.json", InvalidInputError, MAX_SMALL_JSON_BYTES
        )
        data = json.loads(raw.decode("utf-8"))
    except (InvalidInputError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
