"""Classification metrics in plain NumPy, for softmax and sigmoid (multilabel) models.

Computed here rather than pulled from scikit-learn to keep the dependency list short; the tests
check them against independent reference computations.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from abyssexp.schemas.results import ConditionMetrics


def predicted_labels(
    scores: np.ndarray, activation: str, threshold: float | np.ndarray = 0.5
) -> np.ndarray:
    """Boolean N×K predictions: argmax for softmax, ``score >= threshold`` for sigmoid."""
    scores = np.asarray(scores)
    if activation == "softmax":
        out = np.zeros(scores.shape, dtype=bool)
        if len(scores):
            out[np.arange(len(scores)), scores.argmax(axis=1)] = True
        return out
    return scores >= threshold


def confusion_counts(truth: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    truth = np.asarray(truth, dtype=bool)
    predicted = np.asarray(predicted, dtype=bool)
    return {
        "tp": (truth & predicted).sum(axis=0),
        "fp": (~truth & predicted).sum(axis=0),
        "tn": (~truth & ~predicted).sum(axis=0),
        "fn": (truth & ~predicted).sum(axis=0),
    }


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def average_precision(truth: np.ndarray, scores: np.ndarray) -> float:
    """Area under the PR curve as scikit-learn's ``average_precision_score`` defines it:
    ``sum_n (R_n - R_{n-1}) P_n`` over descending score thresholds (ties grouped)."""
    truth = np.asarray(truth, dtype=bool)
    positives = truth.sum()
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores = scores[order]
    sorted_truth = truth[order]
    distinct = np.where(np.diff(sorted_scores))[0]
    ends = np.r_[distinct, len(sorted_scores) - 1]
    tps = np.cumsum(sorted_truth)[ends]
    fps = (ends + 1) - tps
    precision = tps / (tps + fps)
    recall = tps / positives
    previous = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - previous) * precision))


def pr_curve(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at every distinct threshold (for plotting)."""
    truth = np.asarray(truth, dtype=bool)
    order = np.argsort(-scores, kind="mergesort")
    tps = np.cumsum(truth[order])
    fps = np.cumsum(~truth[order])
    precision = tps / np.maximum(tps + fps, 1)
    recall = tps / max(truth.sum(), 1)
    return np.r_[1.0, precision], np.r_[0.0, recall]


def classification_metrics(
    truth: np.ndarray,
    scores: np.ndarray,
    class_names: list[str],
    activation: str,
    threshold: float | np.ndarray = 0.5,
    top_k: tuple[int, ...] = (1, 3, 5),
) -> ConditionMetrics:
    """Accuracy, top-k, per-class P/R/F1/support and AP, macro/micro/weighted F1, mAP, confusion
    matrix. ``truth`` is the N×K multihot target."""
    truth = np.asarray(truth) > 0
    scores = np.asarray(scores, dtype=np.float64)
    predicted = predicted_labels(scores, activation, threshold)
    counts = confusion_counts(truth, predicted)
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    support = truth.sum(axis=0)
    ap = np.array([average_precision(truth[:, c], scores[:, c]) for c in range(truth.shape[1])])
    micro_p = tp.sum() / max(tp.sum() + fp.sum(), 1)
    micro_r = tp.sum() / max(tp.sum() + fn.sum(), 1)
    micro_f1 = 2 * micro_p * micro_r / (micro_p + micro_r) if micro_p + micro_r else 0.0
    result: ConditionMetrics = {
        "activation": activation,
        "images": int(len(truth)),
        "class_names": list(class_names),
        "threshold": _threshold_value(threshold) if activation == "sigmoid" else None,
        "per_class": {
            name: {
                "precision": float(precision[c]),
                "recall": float(recall[c]),
                "f1": float(f1[c]),
                "support": int(support[c]),
                "average_precision": None if np.isnan(ap[c]) else float(ap[c]),
                "tp": int(tp[c]),
                "fp": int(fp[c]),
                "tn": int(counts["tn"][c]),
                "fn": int(fn[c]),
            }
            for c, name in enumerate(class_names)
        },
        "macro_f1": float(f1.mean()) if len(f1) else 0.0,
        "micro_f1": float(micro_f1),
        "weighted_f1": float((f1 * support).sum() / support.sum()) if support.sum() else 0.0,
        "mAP": float(np.nanmean(ap)) if not np.all(np.isnan(ap)) else None,
    }
    if activation == "softmax":
        _add_softmax_agreement(result, truth, scores, top_k)
    else:
        result["accuracy"] = float((predicted == truth).all(axis=1).mean()) if len(truth) else 0.0
        result["hamming_accuracy"] = float((predicted == truth).mean()) if len(truth) else 0.0
        result["confusion_matrix"] = [
            [[int(counts["tn"][c]), int(fp[c])], [int(fn[c]), int(tp[c])]]
            for c in range(truth.shape[1])
        ]
    result["predicted_classes"] = distinct_predictions(predicted)
    return result


def distinct_predictions(predicted: np.ndarray) -> int:
    """How many different answers a model gave: distinct argmax classes (softmax) or distinct
    predicted label sets (sigmoid). 1 means the same answer for every image."""
    predicted = np.asarray(predicted, dtype=bool)
    if not len(predicted):
        return 0
    return int(len(np.unique(predicted, axis=0)))


def _threshold_value(threshold: float | np.ndarray) -> float | list[float]:
    """The decision threshold as metrics.json keeps it: one number, or one per class."""
    if isinstance(threshold, np.ndarray) and threshold.ndim:
        return [float(t) for t in threshold]
    return float(threshold)


#: metrics.json's name of each top-k accuracy ``classification_metrics`` can give.
TOP_K_KEYS: dict[int, Literal["top_1_accuracy", "top_3_accuracy", "top_5_accuracy"]] = {
    1: "top_1_accuracy",
    3: "top_3_accuracy",
    5: "top_5_accuracy",
}


def _add_softmax_agreement(
    result: ConditionMetrics, truth: np.ndarray, scores: np.ndarray, top_k: tuple[int, ...]
) -> None:
    """Accuracy, top-k and the confusion matrix for softmax, agreeing with the supports, added
    to ``result``.

    An image with several labels (``softmax_multilabel: share``) is right when the predicted
    class is any of its labels, and adds one count to the confusion matrix per label (row: that
    label, column: the prediction), so each row sums to the class's support. Single-label images
    count exactly as usual.
    """
    n, k = truth.shape
    pred_index = scores.argmax(axis=1) if n else np.zeros(0, dtype=int)
    labelled = truth.any(axis=1)
    hit = truth[np.arange(n), pred_index] if n else np.zeros(0, dtype=bool)
    result["accuracy"] = float(hit[labelled].mean()) if labelled.any() else 0.0
    result["multilabel_images"] = int((truth.sum(axis=1) > 1).sum())
    ranks = np.argsort(-scores, axis=1)
    for top in top_k:
        if top < k:
            in_top = np.asarray(np.take_along_axis(truth, ranks[:, :top], axis=1).any(axis=1))
            result[TOP_K_KEYS[top]] = float(in_top[labelled].mean()) if labelled.any() else 0.0
    matrix = np.zeros((k, k), dtype=int)
    rows, labels = np.nonzero(truth)
    np.add.at(matrix, (labels, pred_index[rows]), 1)
    result["confusion_matrix"] = matrix.tolist()
