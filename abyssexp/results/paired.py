"""``compare A B --metric CONDITION:METRIC``: is B's difference from A real?

Only when both were tested under the same condition on the same images: the same test file,
the same images (matched by image id and the SHA-256 of the file's content, which
``predictions.json`` keeps), and the same output activation. Then the same bootstrap draws are
applied to both models' outcomes image by image (``intervals.paired_difference``), and for
accuracy McNemar's exact test counts the images only one of them got right. Otherwise the
answer is no verdict, with the reasons. This is the only part of ``compare`` that opens the
per-image files, and only for these two experiments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict, cast

import numpy as np

from abyssexp.evaluation.intervals import (
    INTERVAL_METRICS,
    PairedDifference,
    image_outcomes,
    paired_difference,
)
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.schemas.results import (
    METRICS_FILE,
    PREDICTIONS_FILE,
    ConditionMetrics,
    Prediction,
    load_predictions,
    load_test_metrics,
)


def _tested(root: Path, condition: str) -> tuple[ConditionMetrics | None, list[Prediction] | None]:
    folder = ExperimentPaths(root).condition(condition)
    return load_test_metrics(folder / METRICS_FILE), load_predictions(folder / PREDICTIONS_FILE)


def _image_keys(predictions: list[dict[str, Any]]) -> list[tuple[Any, Any]] | None:
    """(image id, content sha256) of every image; None when the hashes were not kept."""
    keys = [(p.get("image_id"), p.get("sha256")) for p in predictions if isinstance(p, dict)]
    if len(keys) != len(predictions) or any(digest is None for _, digest in keys):
        return None
    return keys


def _set_reasons(metrics: list[Any], predictions: list[Any]) -> list[str]:
    """Why two test results do not cover the same images (empty: they do)."""
    a, b = metrics
    reasons = []
    if a.get("activation") != b.get("activation"):
        reasons.append(f"different activations ({a.get('activation')} vs {b.get('activation')})")
    if a.get("dataset_sha256") != b.get("dataset_sha256"):
        reasons.append(
            "different test files (sha256 "
            f"{str(a.get('dataset_sha256'))[:12]}… vs {str(b.get('dataset_sha256'))[:12]}…)"
        )
    if a.get("class_names") != b.get("class_names"):
        reasons.append("different classes")
    keys = [k for k in (_image_keys(p) for p in predictions) if k is not None]
    if len(keys) < len(predictions):
        reasons.append(
            "tested before per-image hashes were kept; run `abyssexp test` again on both"
        )
        return reasons
    first, second = (set(k) for k in keys)
    if first != second or len(keys[0]) != len(keys[1]):
        reasons.append(
            f"different images (n={len(keys[0])} vs n={len(keys[1])}, "
            f"{len(first & second)} in common)"
        )
    for field in ("dropped_unlabelled", "dropped_multilabel"):
        if (a.get(field) or 0) != (b.get(field) or 0):
            reasons.append(f"different images left out ({field}: {a.get(field)} vs {b.get(field)})")
    return reasons


def _outcomes(metrics: Any, predictions: list[Any], order: list[tuple[Any, ...]]) -> Any:
    """One model's outcomes with its images in ``order`` (image id, sha256)."""
    names = list(metrics["class_names"])
    by_key = {(p["image_id"], p["sha256"]): p for p in predictions}
    rows = [by_key[key] for key in order]
    truth = np.array([[n in (p.get("true") or []) for n in names] for p in rows], dtype=bool)
    scores = np.array([[float(p["scores"].get(n, 0.0)) for n in names] for p in rows])
    threshold = metrics.get("threshold")
    threshold = 0.5 if threshold is None else np.asarray(threshold, dtype=float)
    return image_outcomes(truth, scores, metrics["activation"], threshold)


class PairedComparison(TypedDict):
    """``compare --paired``'s answer: B − A on the same images under one condition."""

    a: str
    b: str
    condition: str
    metric: str
    verdict: str | None
    reasons: list[str]
    result: PairedDifference | None


def paired_comparison(first: Path, second: Path, metric: str) -> PairedComparison:
    """B − A (``second`` minus ``first``) for ``CONDITION:METRIC``, with a verdict, or no
    verdict and the reasons.

    Returns:
        ``{"a", "b", "condition", "metric", "verdict", "reasons", "result"}``; ``verdict`` is
        ``B better``, ``A better``, ``no significant difference``, ``too few to tell`` (the
        result's ``reason`` says why) or None (not comparable).
    """
    condition, _, name = metric.partition(":")
    answer: PairedComparison = {
        "a": str(first),
        "b": str(second),
        "condition": condition,
        "metric": name,
        "verdict": None,
        "reasons": [],
        "result": None,
    }
    if name not in INTERVAL_METRICS:
        answer["reasons"] = [f"no paired test for {name!r} (one of {', '.join(INTERVAL_METRICS)})"]
        return answer
    tested = [_tested(root, condition) for root in (first, second)]
    missing = [
        f"{label} not tested under {condition!r}"
        for label, (m, p) in zip("AB", tested, strict=True)
        if m is None or p is None
    ]
    missing += [
        f"{label} has no {name} under {condition!r}"
        for label, (m, _) in zip("AB", tested, strict=True)
        if m is not None and m.get(name) is None
    ]
    if missing:
        answer["reasons"] = missing
        return answer
    metrics = [m for m, _ in tested if m is not None]  # every one, after ``missing``
    predictions = [p for _, p in tested if p is not None]
    answer["reasons"] = _set_reasons(metrics, predictions)
    if answer["reasons"]:
        return answer
    order = _image_keys(cast(list[dict[str, Any]], predictions[0])) or []
    a, b = (_outcomes(m, p, order) for m, p in zip(metrics, predictions, strict=True))
    result = paired_difference(a, b, name)
    answer["result"], answer["verdict"] = result, result["verdict"]
    return answer
