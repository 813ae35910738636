"""Collect what the report shows from an experiment's files, render it with jinja2, write it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np

from abyssexp.atomic import atomic_write_text
from abyssexp.experiment.annotate import CONCLUSION_SECTION, PURPOSE_SECTION
from abyssexp.experiment.caveats import result_caveats
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.refs import resolve_ref, split_location
from abyssexp.experiment.result_digest import format_metric, interval_of
from abyssexp.experiment.show import ExperimentDescription, describe_experiment
from abyssexp.report.figures import (
    confusion_figure,
    curve_figure,
    per_class_figure,
    pr_figure,
)
from abyssexp.report.mistakes import worst_mistakes
from abyssexp.results.compare import (
    compare_experiments,
    comparison_rows,
    interval_cells,
    read_history_columns,
    read_provenance,
)
from abyssexp.schemas.results import (
    METRICS_FILE,
    PREDICTIONS_FILE,
    load_predictions,
    load_test_metrics,
)
from abyssexp.templates import template_path

REPORT_FILE = "report.html"
TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class WrittenReport:
    path: Path
    bytes: int
    experiments: int

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "bytes": self.bytes, "experiments": self.experiments}


def readme_section(paths: ExperimentPaths, title: str) -> str:
    """The text of one readme.txt section (``Purpose``, ``Conclusion``), or ``""``."""
    try:
        text = paths.readme.read_text()
    except OSError:
        return ""
    match = re.search(
        rf"^{re.escape(title)}\n-{{3,}}\n(.*?)(?=^[^\n]+\n-{{3,}}\n|\Z)", text, re.S | re.M
    )
    return match.group(1).strip() if match else ""


def _written(text: str) -> str:
    """A readme section as people filled it in: the template's placeholder reads as empty."""
    return "" if text.startswith("(Fill in once") else text


def _diff_summary(paths: ExperimentPaths) -> str:
    """``3 files, +20 −4`` from logs/git.diff."""
    try:
        lines = paths.git_diff.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    files = sum(1 for line in lines if line.startswith("diff --git"))
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return f"{files} file(s), +{added} −{removed}" if files else ""


def _params(info: ExperimentDescription) -> list[dict[str, Any]]:
    from abyssexp.experiment.param_filters import flatten_params

    changed = info["params_changed"]
    rows = []
    for key, value in flatten_params(info["params"]).items():
        entry = changed.get(key) or {}
        rows.append(
            {
                "key": key,
                "value": json.dumps(value) if not isinstance(value, str) else value,
                "default": json.dumps(entry.get("default")) if entry else "",
                "changed": bool(entry) and entry.get("value") != entry.get("default"),
                "from_parent": bool(entry.get("differs_from_parent")),
            }
        )
    return sorted(rows, key=lambda r: (not (r["changed"] or r["from_parent"]), r["key"]))


def _condition(folder: Path) -> dict[str, Any] | None:
    loaded = load_test_metrics(folder / METRICS_FILE)
    if loaded is None:
        return None
    # The typed result read as a plain dict below (old files hold more keys than the schema).
    metrics = cast(dict[str, Any], loaded)
    predictions = cast(list[dict[str, Any]], load_predictions(folder / PREDICTIONS_FILE) or [])
    names = list(metrics.get("class_names") or metrics.get("per_class", {}).keys())
    curves = []
    if predictions:
        truth = np.array([[n in (p.get("true") or []) for n in names] for p in predictions])
        scores = np.array([[p["scores"].get(n, 0.0) for n in names] for p in predictions])
        for c, name in enumerate(names):
            ap = (metrics.get("per_class", {}).get(name) or {}).get("average_precision")
            label = f"{name} (AP {ap:.3f})" if ap is not None else name
            curves.append((label, truth[:, c], scores[:, c]))
    summary = {
        k: format_metric(metrics[k], interval_of(metrics, k))
        for k in ("accuracy", "top_3_accuracy", "macro_f1", "micro_f1", "weighted_f1", "mAP")
        if isinstance(metrics.get(k), int | float)
    }
    caveats = metrics.get("caveats")
    if caveats is None:  # tested before caveats were stored: work them out now
        caveats = result_caveats(metrics)
    return {
        "name": folder.name,
        "images": metrics.get("images"),
        "checkpoint": metrics.get("checkpoint"),
        "dataset": metrics.get("dataset"),
        "dataset_sha256": metrics.get("dataset_sha256"),
        "summary": summary,
        "overlap": metrics.get("overlap"),
        "caveats": caveats,
        "per_class": metrics.get("per_class", {}),
        "pr_curves": pr_figure(f"{folder.name}: precision-recall", curves) if curves else None,
        "confusion": confusion_figure(metrics["confusion_matrix"], names)
        if metrics.get("confusion_matrix") and metrics.get("activation") == "softmax"
        else None,
        "per_class_figure": _per_class(metrics, names),
        "mistakes": worst_mistakes(predictions, names, folder) if predictions else [],
    }


def _per_class(metrics: dict[str, Any], names: list[str]) -> str | None:
    """A sigmoid model has no confusion matrix: its per-class precision and recall at the
    thresholds it was tested with instead."""
    per_class = metrics.get("per_class") or {}
    if metrics.get("activation") == "softmax" or not per_class:
        return None
    shown = [n for n in names if n in per_class]
    threshold = metrics.get("threshold")
    single = isinstance(threshold, int | float) and not isinstance(threshold, bool)
    where = f"threshold {threshold:g}" if single else "the saved thresholds"
    return per_class_figure(
        f"per class at {where}",
        shown,
        [float(per_class[n].get("precision") or 0.0) for n in shown],
        [float(per_class[n].get("recall") or 0.0) for n in shown],
    )


def _experiment(paths: ExperimentPaths, scratch: Path) -> dict[str, Any]:
    info = describe_experiment(str(paths.root), scratch)
    project, experiment_type = split_location(paths)
    record = info["record"]
    provenance = read_provenance(paths)
    history = read_history_columns(paths.history)
    conditions = []
    if paths.testing.is_dir():
        for folder in sorted(p for p in paths.testing.iterdir() if p.is_dir()):
            condition = _condition(folder)
            if condition:
                conditions.append(condition)
    return {
        "title": f"{project}/{experiment_type}/{paths.name}",
        "path": str(paths.root),
        "record": record,
        "purpose": readme_section(paths, PURPOSE_SECTION) or record.get("note") or "",
        "conclusion": _written(readme_section(paths, CONCLUSION_SECTION)),
        "provenance": provenance,
        "diff_summary": _diff_summary(paths),
        "params": _params(info),
        "history": history,
        "conditions": conditions,
    }


#: History columns that count rather than measure: drawn on a panel of their own, never on
#: a metric's axis (a count of 1 or 3 beside an accuracy of 0.8 reads as nothing).
DIAGNOSTICS = ("distinct_predictions",)
LEARNING_RATE = ("lr", "learning_rate")
#: Panels first in this order, then any other metric alphabetically.
PANEL_ORDER = ("loss", "accuracy", "macro_f1")
PANEL_TITLES = {"macro_f1": "macro F1", "distinct_predictions": "distinct predictions"}


def _curves(experiments: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One small panel per metric (training solid, validation dashed, the experiments as
    colours), then the diagnostic counters and the learning rate, each on its own panel."""
    series = [(f"[{i}]", e["history"]) for i, e in enumerate(experiments, start=1)]
    keys = sorted({k for e in experiments for k in e["history"]})
    metrics = {
        k.removeprefix("val_")
        for k in keys
        if k not in ("epoch", *LEARNING_RATE) and not k.startswith("_")
    }
    ordered = [m for m in PANEL_ORDER if m in metrics]
    ordered += sorted(metrics - set(PANEL_ORDER) - set(DIAGNOSTICS))
    ordered += [m for m in DIAGNOSTICS if m in metrics]
    figures = []
    for metric in ordered:
        wanted = [k for k in (metric, f"val_{metric}") if k in keys]
        uri = curve_figure(PANEL_TITLES.get(metric, metric), series, wanted)
        if uri:
            figures.append({"title": PANEL_TITLES.get(metric, metric), "uri": uri})
    rate = [k for k in LEARNING_RATE if k in keys][:1]
    uri = curve_figure("learning rate", series, rate, log_scale=True) if rate else None
    if uri:
        figures.append({"title": "learning rate", "uri": uri})
    return figures


def _split_rows(rows: list[tuple[str, str, list[Any]]]) -> dict[str, list[Any]]:
    """ "What differs": the rows whose values differ, and those equal in every experiment
    (folded away, counted)."""
    differ: list[Any] = []
    equal: list[Any] = []
    for row in rows:
        values = [json.dumps(v, sort_keys=True, default=str) for v in row[2]]
        (equal if len(set(values)) <= 1 else differ).append(row)
    return {"rows": differ, "equal": equal}


#: The metric a report's paired test compares, first one both results have.
PAIRED_METRICS = ("accuracy", "macro_f1", "mAP")


def paired_verdicts(main: ExperimentPaths, others: list[ExperimentPaths]) -> list[dict[str, Any]]:
    """Each compared experiment against the first, on every test condition both have: B − A
    with its paired 95 % interval and verdict, or no verdict and the reasons (as ``compare
    --metric`` prints it; ``results.paired``)."""
    from abyssexp.results.paired import paired_comparison

    found = []
    tested = _conditions(main)
    for index, other in enumerate(others, 2):
        for condition in sorted(tested & _conditions(other)):
            metric = next(
                (m for m in PAIRED_METRICS if _has_metric(main, condition, m)), "accuracy"
            )
            answer = paired_comparison(main.root, other.root, f"{condition}:{metric}")
            result = answer["result"]
            difference = result["difference"] if result else None
            found.append(
                {
                    "pair": f"[{index}] − [1]",
                    "test": f"{condition}:{metric}",
                    "difference": format_metric(difference, result, digits=3)
                    if difference is not None
                    else "-",
                    "verdict": answer.get("verdict") or "no paired verdict",
                    "reasons": answer.get("reasons") or [],
                }
            )
    return found


def _conditions(paths: ExperimentPaths) -> set[str]:
    if not paths.testing.is_dir():
        return set()
    return {p.name for p in paths.testing.iterdir() if (p / METRICS_FILE).is_file()}


def _has_metric(paths: ExperimentPaths, condition: str, metric: str) -> bool:
    metrics = load_test_metrics(paths.condition(condition) / METRICS_FILE)
    return metrics is not None and metrics.get(metric) is not None


def render_report(experiments: list[dict[str, Any]], comparison: Any) -> str:
    from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape

    environment = Environment(
        loader=FileSystemLoader(str(template_path("report"))),
        autoescape=select_autoescape(default=True),
        undefined=ChainableUndefined,  # optional record fields read as empty
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["number"] = _number
    return environment.get_template(TEMPLATE).render(
        experiments=experiments,
        curves=_curves(experiments),
        comparison=comparison,
        generated=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )


def _number(value: Any, digits: int = 4) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", value):
        return value[:12] + "…"  # a commit or a sha256: the start tells them apart
    return str(value)


def write_report(
    ref: str, scratch: Path, compare: list[str], output: Path | None = None
) -> WrittenReport:
    """Write the report of ``ref`` (and ``compare``, side by side) to ``output``
    (default ``<experiment>/report.html``).

    Raises:
        ExperimentNotFoundError: a reference names no experiment.
    """
    main = resolve_ref(ref, scratch)
    others = [resolve_ref(r, scratch) for r in compare]
    experiments = [_experiment(p, scratch) for p in [main, *others]]
    comparison = None
    if others:
        data = compare_experiments(scratch, [str(p.root) for p in [main, *others]])
        rows = [
            (section, field, interval_cells(data, field) or values)
            for section, field, values in comparison_rows(data)
        ]
        comparison = {
            **_split_rows(rows),
            "mismatch": data["dataset_mismatch"],
            "test_mismatch": data["test_mismatch"],
            "paired": paired_verdicts(main, others),
        }
    html = render_report(experiments, comparison)
    target = output or main.root / REPORT_FILE
    atomic_write_text(target, html)
    return WrittenReport(target.absolute(), len(html.encode("utf-8")), len(experiments))
