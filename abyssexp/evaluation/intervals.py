"""How sure a test metric is: seeded bootstrap intervals over images, and paired differences.

A resample draws N images with replacement from the N test images; a metric computed on many
resamples spreads as it would on other test sets of the same size drawn the same way, and the
2.5th and 97.5th percentiles of that spread are its 95 % interval. Everything is vectorised: the
draws become one B×N matrix of counts (how often each image was drawn in each resample), and every
metric that is a sum over images (accuracy, top-k, per-class TP/FP/FN and so the F1 scores) is one
matrix product with it. Average precision sums the counts in score order per class. A paired
comparison applies the same draws to two models' outcomes on the same images, so what the images
have in common cancels out.

The seed is fixed (``SEED``): the same predictions always give the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from abyssexp.evaluation.metrics import predicted_labels
from abyssexp.metric_direction import LEVEL

#: Resamples per interval (the issue's floor is 1,000).
RESAMPLES = 1000
#: The bootstrap's seed: intervals are reproducible.
SEED = 20
#: The metrics that get an interval, in the order reports show them.
INTERVAL_METRICS = (
    "accuracy",
    "top_3_accuracy",
    "top_5_accuracy",
    "hamming_accuracy",
    "macro_f1",
    "micro_f1",
    "weighted_f1",
    "mAP",
)


@dataclass(frozen=True)
class Outcomes:
    """Per-image pieces every metric is a sum of (N images, K classes)."""

    activation: str
    truth: np.ndarray  # N×K bool
    scores: np.ndarray  # N×K float
    tp: np.ndarray  # N×K float32
    fp: np.ndarray
    fn: np.ndarray
    hits: dict[str, np.ndarray]  # accuracy-like metric → N float32 (1 right, 0 wrong)
    counted: np.ndarray  # N float32: images accuracy counts (labelled ones for softmax)

    @property
    def images(self) -> int:
        return int(len(self.truth))


def image_outcomes(
    truth: np.ndarray, scores: np.ndarray, activation: str, threshold: float | np.ndarray = 0.5
) -> Outcomes:
    """What each image contributes, with the same rules as ``classification_metrics``."""
    truth = np.asarray(truth) > 0
    scores = np.asarray(scores, dtype=np.float64)
    predicted = predicted_labels(scores, activation, threshold)
    n, k = truth.shape
    hits: dict[str, np.ndarray] = {}
    if activation == "softmax":
        counted = truth.any(axis=1)
        hits["accuracy"] = (truth & predicted).any(axis=1).astype(np.float32)
        ranks = np.argsort(-scores, axis=1)  # as metrics._softmax_agreement ranks them
        for top in (3, 5):
            if top < k:
                hit = np.take_along_axis(truth, ranks[:, :top], axis=1).any(axis=1)
                hits[f"top_{top}_accuracy"] = hit.astype(np.float32)
    else:
        counted = np.ones(n, dtype=bool)
        hits["accuracy"] = (predicted == truth).all(axis=1).astype(np.float32)
        hits["hamming_accuracy"] = (predicted == truth).mean(axis=1).astype(np.float32)
    return Outcomes(
        activation,
        truth,
        scores,
        (truth & predicted).astype(np.float32),
        (~truth & predicted).astype(np.float32),
        (truth & ~predicted).astype(np.float32),
        hits,
        counted.astype(np.float32),
    )


def resample_counts(images: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """B×N counts: how often each image is drawn in each resample (rows sum to N)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, images, (resamples, images), dtype=np.int32)
    counts = np.empty((resamples, images), dtype=np.float32)
    for row, drawn in enumerate(draws):  # one small bincount per row stays in cache
        counts[row] = np.bincount(drawn, minlength=images)
    return counts


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def _f1_family(outcomes: Outcomes, counts: np.ndarray) -> dict[str, np.ndarray]:
    """Macro, micro and weighted F1 of every resample (rows of ``counts``)."""
    tp = (counts @ outcomes.tp).astype(np.float64)
    fp = (counts @ outcomes.fp).astype(np.float64)
    fn = (counts @ outcomes.fn).astype(np.float64)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * precision * recall, precision + recall)
    support = tp + fn
    micro_p = _ratio(tp.sum(axis=1), (tp + fp).sum(axis=1))
    micro_r = _ratio(tp.sum(axis=1), (tp + fn).sum(axis=1))
    return {
        "macro_f1": f1.mean(axis=1),
        "micro_f1": _ratio(2 * micro_p * micro_r, micro_p + micro_r),
        "weighted_f1": _ratio((f1 * support).sum(axis=1), support.sum(axis=1)),
    }


def by_image(counts: np.ndarray) -> np.ndarray:
    """``counts`` as N×B integers (int16 while N allows): the layout that sorting images by
    score gathers fast, at half the float32 matrix's memory traffic."""
    dtype = np.int16 if counts.shape[1] < np.iinfo(np.int16).max else np.int32
    return np.ascontiguousarray(counts.T, dtype=dtype)


def weighted_average_precision(
    truth: np.ndarray, scores: np.ndarray, image_counts: np.ndarray
) -> np.ndarray:
    """Average precision of one class in every resample (NaN: no positive drawn).

    ``image_counts`` is ``by_image(counts)``. The images are sorted by score once; tied scores
    form one threshold, as in ``metrics.average_precision``; only thresholds that hold a positive
    add to the sum, each with the precision of everything drawn down to it.
    """
    order = np.argsort(-scores, kind="mergesort")
    ordered, positive = scores[order], np.asarray(truth, dtype=bool)[order]
    resamples = image_counts.shape[1]
    if not positive.any():
        return np.full(resamples, np.nan)
    group = np.r_[0, np.cumsum(ordered[1:] != ordered[:-1])]  # tie group of each position
    groups_with_positive = np.unique(group[positive])
    ends = np.searchsorted(group, groups_with_positive, side="right")  # one past each group
    drawn = image_counts[order[: ends[-1]]]  # after the last positive nothing counts
    np.cumsum(drawn, axis=0, out=drawn)
    drawn = drawn[ends - 1].astype(np.float64)
    true_drawn = np.cumsum(image_counts[order[positive]], axis=0, dtype=np.float64)
    last = np.searchsorted(group[positive], groups_with_positive, side="right") - 1
    cumulative = true_drawn[last]
    added = np.diff(cumulative, axis=0, prepend=0.0)
    precision = _ratio(cumulative, drawn)
    total = cumulative[-1]
    return np.divide(
        (added * precision).sum(axis=0), total, out=np.full(resamples, np.nan), where=total > 0
    )


def metric_samples(
    outcomes: Outcomes, counts: np.ndarray, wanted: Collection[str] | None = None
) -> dict[str, np.ndarray]:
    """Interval metrics (``wanted``, default all) under every row of ``counts``: one value per
    resample. The image sums of all accuracy-like metrics are one matrix product."""
    wanted = set(INTERVAL_METRICS if wanted is None else wanted)
    samples: dict[str, np.ndarray] = {}
    names = [name for name in outcomes.hits if name in wanted]
    if names:
        ones = np.ones(outcomes.images, dtype=np.float32)
        weights = [ones if n == "hamming_accuracy" else outcomes.counted for n in names]
        columns = [outcomes.hits[n] * w for n, w in zip(names, weights, strict=True)]
        sums = counts @ np.stack(columns + [outcomes.counted, ones], axis=1)
        for index, name in enumerate(names):
            denominator = sums[:, -1] if name == "hamming_accuracy" else sums[:, -2]
            samples[name] = _ratio(sums[:, index], denominator)
    if wanted & {"macro_f1", "micro_f1", "weighted_f1"}:
        samples.update(_f1_family(outcomes, counts))
    if "mAP" in wanted:
        image_counts = by_image(counts)
        per_class = np.array(
            [
                weighted_average_precision(
                    outcomes.truth[:, c], outcomes.scores[:, c], image_counts
                )
                for c in range(outcomes.truth.shape[1])
            ]
        )
        with np.errstate(all="ignore"):
            samples["mAP"] = (
                np.nanmean(per_class, axis=0) if per_class.size else np.full(len(counts), np.nan)
            )
    return samples


def metric_support(outcomes: Outcomes, metric: str) -> int:
    """``n``: the images a metric counted (accuracy on softmax: the labelled ones)."""
    if metric in outcomes.hits and metric != "hamming_accuracy":
        return int(outcomes.counted.sum())
    return outcomes.images


def _bounds(samples: np.ndarray) -> tuple[float | None, float | None]:
    finite = samples[np.isfinite(samples)]
    if not finite.size:
        return None, None
    tail = (1.0 - LEVEL) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def metric_intervals(
    outcomes: Outcomes, values: dict[str, Any], resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, dict[str, Any]]:
    """``{metric: {value, low, high, n, level, resamples, seed}}`` for every interval metric
    ``values`` holds (the point values stay those of ``classification_metrics``)."""
    if not outcomes.images:
        return {}
    counts = resample_counts(outcomes.images, resamples, seed)
    samples = metric_samples(outcomes, counts, [m for m in values if values.get(m) is not None])
    intervals = {}
    for metric in INTERVAL_METRICS:
        if values.get(metric) is None or metric not in samples:
            continue
        low, high = _bounds(samples[metric])
        intervals[metric] = {
            "value": float(values[metric]),
            "low": low,
            "high": high,
            "n": metric_support(outcomes, metric),
            "level": LEVEL,
            "resamples": resamples,
            "seed": seed,
        }
    return intervals


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: the discordant images (right for one model only) are
    a fair coin's tosses if the models are equally accurate (binomial, p = 0.5)."""
    discordant = a_only + b_only
    if discordant == 0:
        return 1.0
    smaller = min(a_only, b_only)
    steps = np.log(np.arange(discordant, 0, -1)) - np.log(np.arange(1, discordant + 1))
    log_terms = np.r_[0.0, np.cumsum(steps)][: smaller + 1] - discordant * math.log(2.0)
    peak = log_terms.max()
    tail = math.exp(peak) * float(np.exp(log_terms - peak).sum())
    return min(1.0, 2.0 * tail)


def paired_difference(
    first: Outcomes,
    second: Outcomes,
    metric: str,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, Any]:
    """B − A for ``metric`` on the same images (row i of both is the same image), with a paired
    bootstrap interval and, for accuracy, McNemar's exact test.

    Returns:
        ``{metric, a, b, difference, low, high, n, level, resamples, seed, p_value?,
        a_only?, b_only?}``; ``a_only``/``b_only``: images only A (only B) got right.
    """
    counts = resample_counts(first.images, resamples, seed)
    whole = np.ones((1, first.images), dtype=np.float32)
    a_samples = metric_samples(first, counts, [metric])[metric]
    b_samples = metric_samples(second, counts, [metric])[metric]
    a_value = float(metric_samples(first, whole, [metric])[metric][0])
    b_value = float(metric_samples(second, whole, [metric])[metric][0])
    low, high = _bounds(b_samples - a_samples)
    result: dict[str, Any] = {
        "metric": metric,
        "a": a_value,
        "b": b_value,
        "difference": b_value - a_value,
        "low": low,
        "high": high,
        "n": metric_support(first, metric),
        "level": LEVEL,
        "resamples": resamples,
        "seed": seed,
    }
    if metric == "accuracy":
        counted = first.counted > 0
        a_right = first.hits["accuracy"][counted] > 0
        b_right = second.hits["accuracy"][counted] > 0
        a_only, b_only = int((a_right & ~b_right).sum()), int((b_right & ~a_right).sum())
        result.update(a_only=a_only, b_only=b_only, p_value=mcnemar_exact(a_only, b_only))
    result["verdict"] = paired_verdict(result)
    return result


def paired_verdict(result: dict[str, Any]) -> str:
    """``B better``, ``A better`` or ``no significant difference`` at 95 %: the interval of
    B − A must exclude 0 and, for accuracy, McNemar's test must agree (p < 0.05)."""
    low, high = result.get("low"), result.get("high")
    agrees = result.get("p_value", 0.0) < 1.0 - LEVEL
    if low is not None and low > 0 and agrees:
        return "B better"
    if high is not None and high < 0 and agrees:
        return "A better"
    return "no significant difference"
