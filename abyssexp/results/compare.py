"""``abyssexp compare``: which experiment is best, and what differs between them.

Everything comes from the files in the scratch folder (record.json, models/params.json,
logs/history.csv, logs/provenance.json): no TensorFlow, no network.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from abyssexp.errors import InvalidInputError
from abyssexp.experiment.history import read_history_columns
from abyssexp.experiment.index import Indexed, indexed
from abyssexp.experiment.jobs import apply_job_states
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.list_rows import (
    ListRow,
    collector_paused,
    is_pattern,
    matching_folders,
    parse_statuses,
)
from abyssexp.experiment.naming import parse_name
from abyssexp.experiment.param_filters import changed_columns, filter_rows
from abyssexp.experiment.refs import resolve_ref, split_location
from abyssexp.experiment.result_digest import caveat_codes, format_metric, interval_of
from abyssexp.experiment.summary_cache import (
    best_validation,
    provenance_summary,
)
from abyssexp.metric_direction import sign
from abyssexp.schemas.provenance import latest_section, load_provenance

if TYPE_CHECKING:
    from abyssexp.results.paired import PairedComparison
    from abyssexp.results.seed_groups import SeedGroups

__all__ = ["best_validation", "provenance_summary", "read_history_columns"]


class Comparison(TypedDict):
    """What ``compare`` shows (``compare --json`` prints it)."""

    metric: str | None
    #: One column per experiment, best first by ``metric`` when given.
    experiments: list[dict[str, Any]]
    #: The params that differ: ``{key: [value per experiment]}``.
    params: dict[str, list[Any]]
    dataset_mismatch: list[str]
    test_mismatch: list[str]
    #: The experiments' paths in the order they were given (A, B, ...).
    selected: list[str]
    #: ``compare A B --metric CONDITION:METRIC``: B − A on the same test images.
    paired: NotRequired[PairedComparison]
    #: ``compare --sweep``: trials that differ only by seed or fold, pooled and judged.
    groups: NotRequired[SeedGroups]


def select_experiments(
    scratch: Path,
    refs: list[str],
    filters: list[str] | None = None,
    status: str | None = None,
    tags: list[str] | None = None,
) -> list[ListRow]:
    """Listing rows for references and patterns, in the order given, each experiment once.

    Raises:
        InvalidInputError: a bad pattern, status or filter; nothing selected.
        ExperimentNotFoundError: a plain reference names no experiment.
    """
    rows, _ = _selected(scratch, refs, filters, status, tags, compared=False)
    return rows


def _selected(
    scratch: Path,
    refs: list[str],
    filters: list[str] | None,
    status: str | None,
    tags: list[str] | None,
    compared: bool = True,
) -> tuple[list[ListRow], dict[str, Indexed]]:
    """``select_experiments`` and what the index gave of each, by path (``compared``: also
    the params, times and summary ``compare`` shows; each experiment is read once). Rows keep
    their params (``_flat``) for ``changed_columns`` when ``compared``."""
    wanted = parse_statuses(status) if status else None
    found: dict[str, tuple[str, str, str, str, int | None]] = {}
    for ref in refs:
        if is_pattern(ref):
            matched = matching_folders(ref, scratch)
        else:
            paths = resolve_ref(ref, scratch)
            root = paths.root
            matched = [(*split_location(paths), str(root.parent), root.name, _number(root.name))]
        for located in matched:
            found.setdefault(located[2] + os.sep + located[3], located)
    params = compared or bool(filters)
    items = indexed(found.values(), params=params, summary=compared, root=scratch)
    rows = [item.row for item in items]
    if params:
        for item in items:
            if item.flat is not None:
                item.row["_flat"] = item.flat
    apply_job_states(rows)
    if wanted:
        rows = [row for row in rows if row["status"] in wanted]
    if tags:
        rows = [row for row in rows if set(tags) <= set(row["tags"])]
    if filters:
        rows = filter_rows(rows, filters, keep_flat=compared)
    if not compared:
        for row in rows:
            row.pop("_flat", None)
    if not rows:
        raise InvalidInputError(
            f"compare: nothing matches {' '.join(refs)} with these options; "
            "`abyssexp list` shows what exists"
        )
    return rows, {item.row["path"]: item for item in items}


def _number(name: str) -> int | None:
    parsed = parse_name(name)
    return parsed.number if parsed else None


def _seconds(record: dict[str, Any]) -> float | None:
    """Training time over every ``train`` (a resumed run adds up); records written before the
    totals existed give the span of their last ``train``."""
    if isinstance(record.get("train_seconds"), int | float):
        return float(record["train_seconds"])
    try:
        started = datetime.fromisoformat(record["started"].replace("Z", "+00:00"))
        finished = datetime.fromisoformat(record["finished"].replace("Z", "+00:00"))
    except (KeyError, AttributeError, TypeError, ValueError):
        return None
    return (finished - started).total_seconds()


def _throughput(record: dict[str, Any]) -> float | None:
    seconds, images = record.get("train_seconds"), record.get("train_images")
    return images / seconds if seconds and isinstance(images, int) else None


def read_provenance(paths: ExperimentPaths) -> dict[str, Any]:
    """The latest provenance section (``train``, else ``new``) of logs/provenance.json."""
    return latest_section(load_provenance(paths.provenance))


def _column(row: ListRow, item: Indexed) -> dict[str, Any]:
    times = item.times or {}
    summary = item.summary  # history and provenance, from the index unless they changed
    return {
        "experiment": f"{row['project']}/{row['type']}/{row['name']}",
        "path": row["path"],
        "status": row["status"],
        "tags": row["tags"],
        "note": row["note"],
        "epochs_done": row["epochs_done"],
        "epochs_total": row["epochs_total"],
        "seconds": _seconds(times),
        "images_per_second": _throughput(times),
        "best": {
            "metric": row["best_metric"],
            "value": row["best_value"],
            "epoch": row["best_epoch"],
        },
        "validation": summary["validation"] if summary else {},
        "tests": row["tests"],
        "provenance": summary["provenance"] if summary else {},
    }


def _dataset_mismatches(columns: list[dict[str, Any]]) -> list[str]:
    """Dataset files (train, val, category map) whose sha256 differs between experiments."""
    splits = sorted({s for c in columns for s in c["provenance"]["datasets"]})
    return [
        split
        for split in splits
        if len({c["provenance"]["datasets"].get(split) for c in columns} - {None}) > 1
    ]


def metric_values(columns: list[dict[str, Any]], metric: str) -> list[float | None]:
    """``val_accuracy`` (best over the epochs) or ``CONDITION:METRIC`` (a test result)."""
    values: list[float | None] = []
    for column in columns:
        if ":" in metric:
            condition, _, name = metric.partition(":")
            value = (column["tests"].get(condition) or {}).get(name)
        else:
            value = (column["validation"].get(metric) or {}).get("value")
        values.append(float(value) if isinstance(value, int | float) else None)
    return values


def available_metrics(columns: list[dict[str, Any]]) -> list[str]:
    found = {m for c in columns for m in c["validation"]}
    for column in columns:
        for condition, metrics in column["tests"].items():
            found |= {f"{condition}:{k}" for k, v in metrics.items() if isinstance(v, int | float)}
    return sorted(found)


def compare_experiments(
    scratch: Path,
    refs: list[str],
    metric: str | None = None,
    filters: list[str] | None = None,
    status: str | None = None,
    tags: list[str] | None = None,
) -> Comparison:
    """Everything ``compare`` shows: the experiments (best first by ``metric`` when given), the
    params that differ (``{key: [value per experiment]}``), and the dataset files that differ.

    Raises:
        InvalidInputError: a bad selection, or a ``metric`` no experiment has (the valid ones
            are listed).
    """
    with collector_paused():
        return _compared(scratch, refs, metric, filters, status, tags)


def _compared(
    scratch: Path,
    refs: list[str],
    metric: str | None,
    filters: list[str] | None,
    status: str | None,
    tags: list[str] | None,
) -> Comparison:
    """``compare_experiments``' work, done while the cycle collector is paused."""
    rows, records = _selected(scratch, refs, filters, status, tags)
    columns = [_column(row, records.pop(row["path"])) for row in rows]
    selected = [column["path"] for column in columns]  # A, B, ... as given
    if metric:
        values = metric_values(columns, metric)
        if all(v is None for v in values):
            valid = ", ".join(available_metrics(columns)) or "none: nothing trained or tested yet"
            raise InvalidInputError(f"--metric: no experiment has {metric!r} (valid: {valid})")
        factor = sign(metric)
        order = sorted(
            range(len(rows)), key=lambda i: (values[i] is None, factor * (values[i] or 0.0))
        )
        rows, columns = [rows[i] for i in order], [columns[i] for i in order]
    differing = changed_columns(rows)
    return {
        "metric": metric,
        "experiments": columns,
        "params": {key: [row["changed"][key] for row in rows] for key in differing},
        "dataset_mismatch": _dataset_mismatches(columns),
        "test_mismatch": incomparable_tests(columns),
        "selected": selected,
    }


def incomparable_tests(columns: list[dict[str, Any]]) -> list[str]:
    """Test conditions whose results cannot be ranked side by side, and why: different test
    files, different image contents, different numbers of images, or different output
    activations."""
    found = []
    for condition in sorted({k for c in columns for k in c["tests"]}):
        results = [c["tests"].get(condition) for c in columns]
        reasons = _incomparable(results)
        if reasons:
            found.append(f"{condition}: {'; '.join(reasons)}")
    return found


def _incomparable(results: list[Any]) -> list[str]:
    """Why the results of one condition cannot be ranked side by side (empty: they can)."""
    results = [r for r in results if isinstance(r, dict)]
    reasons = []
    hashes = {r.get("dataset_sha256") for r in results} - {None}
    if len(hashes) > 1:
        reasons.append(f"different test files ({len(hashes)} different sha256)")
    contents = {r.get("images_sha256") for r in results} - {None}
    if len(hashes) <= 1 and len(contents) > 1:  # same file, images changed between the tests
        reasons.append(f"different image contents ({len(contents)} different fingerprints)")
    images = [r.get("images") for r in results]
    if len(set(images) - {None}) > 1:
        reasons.append("different numbers of images (" + " vs ".join(map(str, images)) + ")")
    activations = {r.get("activation") for r in results} - {None}
    if len(activations) > 1:
        reasons.append(f"different activations ({' vs '.join(sorted(activations))})")
    return reasons


TEST_METRICS = ("accuracy", "macro_f1", "mAP")


def comparison_rows(data: Comparison) -> list[tuple[str, str, list[Any]]]:
    """The comparison as ``(section, field, [value per experiment])`` rows, for a table, CSV or
    the HTML report. Values are plain data (numbers stay numbers)."""
    columns = data["experiments"]
    rows: list[tuple[str, str, list[Any]]] = [
        ("run", "status", [c["status"] for c in columns]),
        ("run", "tags", [",".join(c["tags"]) for c in columns]),
        ("run", "epochs", [f"{c['epochs_done']}/{c['epochs_total'] or '?'}" for c in columns]),
        ("run", "time_s", [c["seconds"] for c in columns]),
        ("run", "images_per_s", [c.get("images_per_second") for c in columns]),
    ]
    for metric in sorted({m for c in columns for m in c["validation"]}):
        rows.append(
            (
                "validation",
                metric,
                [(c["validation"].get(metric) or {}).get("value") for c in columns],
            )
        )
    conditions = sorted({k for c in columns for k in c["tests"]})
    for condition in conditions:
        results = [c["tests"].get(condition) or {} for c in columns]
        for metric in TEST_METRICS:
            values = [r.get(metric) for r in results]
            if any(v is not None for v in values):
                rows.append(("test", f"{condition}:{metric}", values))
        rows.append(("test", f"{condition}:images", [r.get("images") for r in results]))
        if any(r.get("overlap") is not None for r in results):
            rows.append(("test", f"{condition}:overlap", [r.get("overlap") for r in results]))
        if any(caveat_codes(r) for r in results):
            codes = [", ".join(caveat_codes(r)) or "none" for r in results]
            rows.append(("test", f"{condition}:caveats", codes))
        if _incomparable(results):
            marks = ["not comparable" if r else None for r in results]
            rows.append(("test", f"{condition}:comparable", marks))
    for key, values in data["params"].items():
        rows.append(("params", key, values))
    rows.append(("provenance", "commit", [c["provenance"]["commit"] for c in columns]))
    rows.append(("provenance", "dirty", [c["provenance"]["dirty"] for c in columns]))
    splits = sorted({s for c in columns for s in c["provenance"]["datasets"]})
    for split in splits:
        rows.append(
            (
                "provenance",
                f"sha256 {split}",
                [c["provenance"]["datasets"].get(split) for c in columns],
            )
        )
    return rows


def interval_cells(data: Comparison, field: str) -> list[str] | None:
    """``0.83 [0.71–0.92] n=29`` per experiment for a ``CONDITION:METRIC`` test row (None for
    any other row): the table shows how sure each number is, CSV and JSON keep the numbers."""
    condition, _, metric = field.partition(":")
    if metric not in TEST_METRICS:
        return None
    results = [c["tests"].get(condition) or {} for c in data["experiments"]]
    return [format_metric(r.get(metric), interval_of(r, metric)) for r in results]
