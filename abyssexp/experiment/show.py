"""``abyssexp show``: everything about one experiment, as plain data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypedDict

from abyssexp.errors import InvalidInputError, printable
from abyssexp.experiment.jobs import JobRow, apply_job_states
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.list_rows import read_params_dict
from abyssexp.experiment.param_filters import flatten_params
from abyssexp.experiment.record_file import load_record
from abyssexp.experiment.refs import resolve_ref
from abyssexp.schemas.provenance import latest_section, load_provenance
from abyssexp.schemas.resolve import load_params_file


def _folder_contents(root: Path) -> dict[str, dict[str, Any]]:
    contents: dict[str, dict[str, Any]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files, total = [], 0
        for dirpath, _dirs, names in os.walk(folder):
            for name in sorted(names):
                if name.startswith("."):
                    continue
                path = Path(dirpath) / name
                files.append(str(path.relative_to(folder)))
                total += path.stat().st_size
        contents[folder.name + "/"] = {"files": files, "bytes": total}
    return contents


class ExperimentDescription(TypedDict):
    """What ``show`` prints (and ``--json`` writes) of one experiment: its record, its params
    and those that differ from the defaults or the parent, its latest provenance and its files."""

    path: str
    record: dict[str, Any]
    params: dict[str, Any]
    params_changed: dict[str, Any]
    params_problem: str | None
    provenance: dict[str, Any]
    contents: dict[str, Any]


def describe_experiment(ref: str, scratch: Path) -> ExperimentDescription:
    from abyssexp.schemas.params import Params

    paths: ExperimentPaths = resolve_ref(ref, scratch)
    loaded = load_record(paths.record)
    record: dict[str, Any] = (
        loaded.record.to_json() if loaded.record else {"problem": loaded.problem}
    )
    record["status"] = loaded.status
    if isinstance(record.get("note"), str):
        record["note"] = printable(record["note"])  # never terminal escapes from the file
    if loaded.record and loaded.record.slurm:  # what Slurm says about the latest job
        row: JobRow = {
            "status": loaded.status,
            "started": record.get("started"),
            "slurm": record["slurm"],
            "status_reason": None,
        }
        apply_job_states([row])
        record["status"], record["status_reason"] = row["status"], row["status_reason"]
    try:
        params, params_problem = load_params_file(paths.params), None
    except InvalidInputError as exc:
        params, params_problem = {}, str(exc)
    flat = flatten_params(params)
    defaults = flatten_params(Params().model_dump(mode="json"))
    parent_flat: dict[str, Any] = {}
    if record.get("parent"):
        try:
            parent = resolve_ref(record["parent"], scratch)
            parent_flat = flatten_params(read_params_dict(parent.root))
        except Exception:  # noqa: BLE001 - a deleted parent must not break show
            parent_flat = {}
    changed: dict[str, Any] = {}
    for key, value in flat.items():
        default = defaults.get(key)
        differs_from_parent = bool(parent_flat) and parent_flat.get(key) != value
        if value != default or differs_from_parent:
            entry = {"value": value, "default": default}
            if parent_flat:
                entry["parent"] = parent_flat.get(key)
                entry["differs_from_parent"] = differs_from_parent
            changed[key] = entry
    latest = latest_section(load_provenance(paths.provenance))
    return {
        "path": str(paths.root),
        "record": record,
        "params": params,
        "params_changed": changed,
        "params_problem": params_problem,
        "provenance": latest,
        "contents": _folder_contents(paths.root),
    }
