"""``list_experiments``: every experiment at a glance, from the small record files only.

Never imports TensorFlow: listing 5,000 experiments must stay well under a second.
"""

from __future__ import annotations

import fnmatch
import gc
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from abyssexp.errors import InvalidInputError, printable
from abyssexp.experiment.layout import MODELS_DIR, PARAMS_FILE, ExperimentPaths
from abyssexp.experiment.naming import parse_name
from abyssexp.experiment.record_file import LoadedRecord, load_record, running_status
from abyssexp.jsonio import MAX_SMALL_JSON_BYTES, read_input_bytes
from abyssexp.schemas.record import Status


class ListRow(TypedDict):
    """One experiment as ``list --json`` gives it, keys in this order (``located_row`` makes
    it; ``ROW_FIELDS`` are those ``--filter`` and ``--csv`` name)."""

    project: str
    type: str
    name: str
    number: int | None
    path: str
    status: str
    created: str | None
    parent: str | None
    epochs_done: int
    epochs_total: int | None
    best_metric: str | None
    best_value: float | None
    best_epoch: int | None
    tests: dict[str, Any]
    promoted: bool
    aliases: list[str]
    disk_bytes: int | None
    note: str
    tags: list[str]
    error: str | None
    changed: dict[str, Any]
    started: str | None
    sweep: str | None
    slurm: dict[str, str | None] | None
    status_reason: str | None
    #: The flattened params, while ``--filter`` or ``--changed`` needs them (never shown).
    _flat: NotRequired[Mapping[str, Any]]


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
    for project_name, type_name, type_folder, name, _ in experiment_folders(
        scratch, project, experiment_type
    ):
        yield project_name, type_name, Path(type_folder + os.sep + name)


def experiment_folders(
    scratch: Path, project: str | None = None, experiment_type: str | None = None
) -> Iterator[Located]:
    """(project, type, type folder, name, number) of every experiment folder, as text: listing
    20,000 experiments makes no ``Path`` for each."""
    for project_entry in _subdirs(scratch):
        if project and not fnmatch.fnmatchcase(project_entry.name, project):
            continue
        for type_entry in _subdirs(Path(project_entry.path)):
            if experiment_type and not fnmatch.fnmatchcase(type_entry.name, experiment_type):
                continue
            for entry in _subdirs(Path(type_entry.path)):
                parsed = parse_name(entry.name)
                if parsed:
                    yield (
                        project_entry.name,
                        type_entry.name,
                        type_entry.path,
                        entry.name,
                        parsed.number,
                    )


#: (project, type, type folder, name, number): an experiment folder as ``experiment_folders``
#: gives it, as text.
Located = tuple[str, str, str, str, int | None]

_GLOB = frozenset("*?[")


def is_pattern(ref: str) -> bool:
    """Whether ``ref`` is a glob pattern (and not a folder whose name holds such a character)."""
    return bool(_GLOB & set(ref)) and not Path(ref).is_dir()


def matching_folders(ref: str, scratch: Path) -> list[Located]:
    """``PROJECT/TYPE[/NAME]`` with glob characters: every experiment it matches (by its folder
    name or its number), sorted by project, type and number. The one matcher of patterns:
    ``compare``'s selection and ``sweeps.selection`` (gc, mlflow sync, list --sweep) use it.

    Raises:
        InvalidInputError: the pattern has not two or three parts.
    """
    parts = ref.strip("/").split("/")
    if len(parts) not in (2, 3):
        raise InvalidInputError(
            f"experiment pattern {ref!r}: expected PROJECT/TYPE[/NAME] with * ? [...], "
            "e.g. shapes/classification/*"
        )
    name = parts[2] if len(parts) == 3 else "*"
    found = []
    for located in experiment_folders(scratch, parts[0], parts[1]):
        folder = located[3]
        number = folder.split(".", 1)[0].lstrip("0") or "0"
        if fnmatch.fnmatchcase(folder, name) or fnmatch.fnmatchcase(number, name):
            found.append(located)
    return sorted(found, key=lambda f: (f[0], f[1], f[4] or 0, f[3]))


def experiment_row(
    project: str, experiment_type: str, folder: Path, loaded: LoadedRecord | None = None
) -> ListRow:
    """One listing row from ``record.json`` (``loaded``: the record when the caller has read it
    already, so that ``compare`` reads each record once)."""
    loaded = loaded or load_record(ExperimentPaths(folder).record)
    parsed = parse_name(folder.name)
    number = parsed.number if parsed else None
    fields = record_fields(loaded)
    return located_row(project, experiment_type, folder.name, number, str(folder), fields)


def record_fields(loaded: LoadedRecord) -> tuple[Any, ...]:
    """The fields of a listing row that come from record.json, as an array in the order of
    ``schemas/index.py``' ``ROW_KEYS`` (the form the index keeps, since the shown status changes
    with time): the record's own status and, while it is ``running``, what ``running_status``
    needs (host, pid, heartbeat, process start)."""
    record = loaded.record.to_json() if loaded.record else {}
    best = record.get("best") or {}
    promotions = record.get("promotions") or []
    note = printable(str(record.get("note") or "")).strip().splitlines()
    running = loaded.record is not None and loaded.record.status == Status.RUNNING
    live = loaded.record if running else None
    return (
        loaded.record.status.value if loaded.record else Status.UNREADABLE.value,
        (live.host, live.pid, live.heartbeat_unix, live.pid_start) if live else None,
        record.get("created"),
        record.get("parent"),
        record.get("epochs_done", 0),
        record.get("epochs_total"),
        best.get("metric"),
        best.get("value"),
        best.get("epoch"),
        record.get("tests") or {},
        bool(promotions),
        sorted({a for p in promotions for a in p.get("aliases", [])}),
        record.get("disk_bytes"),
        note[0] if note else "",
        list(record.get("tags") or []),
        loaded.problem or record.get("error"),
        record.get("started"),
        record.get("sweep"),
        record.get("slurm"),
    )


def located_row(
    project: str,
    experiment_type: str,
    name: str,
    number: int | None,
    path: str,
    fields: Sequence[Any],
) -> ListRow:
    """A listing row: the experiment's place and ``record_fields`` (an array: the index keeps
    it as it is, and 20,000 rows are made here without a dict between), its status as shown now
    (a ``running`` one whose process is gone is ``crashed``). The keys' order is the order of
    ``list --json``."""
    (
        status, live, created, parent, epochs_done, epochs_total, best_metric, best_value,
        best_epoch, tests, promoted, aliases, disk_bytes, note, tags, error, started, sweep, slurm,
    ) = fields  # fmt: skip
    return {
        "project": project,
        "type": experiment_type,
        "name": name,
        "number": number,
        "path": path,
        "status": running_status(live[0], live[1], live[2], pid_start=live[3]) if live else status,
        "created": created,
        "parent": parent,
        "epochs_done": epochs_done,
        "epochs_total": epochs_total,
        "best_metric": best_metric,
        "best_value": best_value,
        "best_epoch": best_epoch,
        "tests": tests,
        "promoted": promoted,
        "aliases": aliases,
        "disk_bytes": disk_bytes,
        "note": note,
        "tags": tags,
        "error": error,
        "changed": {},
        "started": started,
        "sweep": sweep,
        "slurm": slurm,
        "status_reason": None,
    }


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


def sort_rows(rows: list[ListRow], sort: str) -> list[ListRow]:
    reverse = sort.startswith("-")
    key = sort.lstrip("-")

    def by(row: ListRow) -> Any:
        if key == "best":
            return (row["best_value"] is None, row["best_value"] or 0.0)
        if key in ("name", "number"):
            return (row["project"], row["type"], row["number"] or 0)
        fields: Mapping[str, Any] = row
        value = fields.get(key)
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
