"""How a metric is written with its interval: old results, intervals, and none where none held."""

from __future__ import annotations

import numpy as np

from abyssexp.evaluation.evaluate import render_report
from abyssexp.evaluation.intervals import image_outcomes, metric_intervals
from abyssexp.evaluation.metrics import classification_metrics
from abyssexp.experiment.result_digest import (
    format_metric,
    missing_intervals,
    summarise_test,
    summary_metric,
)

#: An interval as metrics.json held it before ``method`` existed (percentile bootstrap).
OLD = {"value": 0.8333, "low": 0.71, "high": 0.92, "n": 29, "level": 0.95, "resamples": 1000}
TOO_FEW = {"value": 0.46, "low": None, "high": None, "n": 4, "level": 0.95}


def test_an_old_interval_without_method_renders_as_before() -> None:
    assert format_metric(0.8333, OLD) == "0.83 [0.71–0.92] n=29"
    assert format_metric(0.8333, {"low": None, "high": None, "n": 29}) == "0.833 n=29"
    assert format_metric(0.8333) == "0.833"
    summary = summarise_test({"accuracy": 0.8333, "intervals": {"accuracy": OLD}})
    assert summary["intervals"]["accuracy"] == {"low": 0.71, "high": 0.92, "n": 29}
    assert summary_metric(summary) == "0.83 [0.71–0.92] n=29"


def test_no_interval_reads_too_few_to_tell_or_constant_predictions() -> None:
    few = {
        **TOO_FEW,
        "method": "bayesian-bootstrap",
        "reason": "fewer than 5 test images in a class",
    }
    assert format_metric(0.4567, few) == "0.46 [too few to tell] n=4"
    constant = {**few, "n": 60, "reason": "constant predictions"}
    assert format_metric(0.16, constant) == "0.16 [constant predictions] n=60"
    summary = summarise_test({"macro_f1": 0.4567, "intervals": {"macro_f1": few}})
    assert summary["intervals"]["macro_f1"]["reason"] == few["reason"]
    assert summary["intervals"]["macro_f1"]["method"] == "bayesian-bootstrap"
    assert summary_metric(summary, "macro_f1") == "0.46 [too few to tell] n=4"
    assert missing_intervals(summary, ("accuracy", "macro_f1")) == [
        "no interval for macro_f1: fewer than 5 test images in a class"
    ]


def _report(truth: np.ndarray, scores: np.ndarray) -> str:
    metrics = classification_metrics(truth, scores, ["a", "b", "c"], "softmax")
    metrics["intervals"] = metric_intervals(image_outcomes(truth, scores, "softmax"), metrics)
    fields = {"condition": "c", "checkpoint": "best.keras", "dataset": "t.json"}
    return render_report({**metrics, **fields, "dataset_sha256": "0" * 64})


def test_report_txt_says_too_few_and_why_within_80_columns() -> None:
    truth = np.eye(3, dtype=bool)[[0, 1, 2, 0]]
    report = _report(truth, truth.astype(float))
    assert "accuracy          1.0000  [0.3976–1.0000] 95 %  n=4" in report
    assert "macro_f1          1.0000  [too few to tell]  n=4" in report
    notes = report[report.index("no interval for") :].splitlines()
    assert notes == [
        "no interval for macro_f1, micro_f1, weighted_f1, mAP: fewer than 5 test images",
        "  in a class",
    ]
    assert max(len(line) for line in notes) <= 80  # (the caveats' lines are longer already)


def test_report_txt_of_old_metrics_is_unchanged() -> None:
    truth = np.eye(3, dtype=bool)[np.arange(30) % 3]
    metrics = classification_metrics(truth, truth.astype(float), ["a", "b", "c"], "softmax")
    metrics["intervals"] = {"accuracy": {**OLD, "value": 1.0}}
    fields = {"condition": "c", "checkpoint": "best.keras", "dataset": "t.json"}
    report = render_report({**metrics, **fields, "dataset_sha256": "0" * 64})
    assert "accuracy          1.0000  [0.7100–0.9200] 95 %  n=29" in report
    assert "macro_f1          1.0000\n" in report and "no interval" not in report
