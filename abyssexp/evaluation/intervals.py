"""How sure a test metric is: an interval per metric, chosen by its measured coverage, and paired
differences.

Each metric gets the method whose coverage of the true value held at every n that
``benchmarks/bench_coverage.py`` simulates (docs/reading-the-numbers.md has its table):

- Proportions (accuracy, top-3/top-5 accuracy) get the Clopper–Pearson exact interval: it never
  covers less than its level at any n. Wilson's score interval fell to 88 % (n=4, p=0.5) and the
  old percentile bootstrap to 34 % (4 of 4 right gave [1, 1] when the truth was 0.9).
- The F1 scores and hamming accuracy get a Bayesian bootstrap with a prior: each resample weighs
  the N test images by independent Exponential(1) draws (a Dirichlet over the images) and adds
  ``PRIOR_IMAGES`` pseudo-images spread over every kind of outcome (every cell of the confusion
  matrix), so a test set without a single error still admits that the model makes some. A
  percentile bootstrap collapses there ([1, 1], 24 % coverage at n=30 and accuracy 0.99). The
  interval spans the central ``DRAW_LEVEL`` (97.5 %) of the draws: calibrated so that it covers
  95 % at the small n where F1 is biased.
- mAP gets the Bayesian bootstrap over the test images alone (a pseudo-image has no score).
- Where no method held, there is no interval: a class with fewer than ``MIN_EVAL_PER_CLASS``
  test images, or one answer for every image (``low``/``high`` None, ``reason`` says why).

A paired comparison applies the same multinomial draws to two models' outcomes on the same
images, so what the images have in common cancels out, and for accuracy adds McNemar's exact
test; when too few images differ for any result to be significant, its verdict is
``too few to tell``. Every sum over images is one matrix product with a B×N matrix of draws or
weights. The seed is fixed (``SEED``): the same predictions always give the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import numpy as np

from abyssexp.datasets.small_data import MIN_EVAL_PER_CLASS
from abyssexp.evaluation.metrics import predicted_labels
from abyssexp.metric_direction import LEVEL
from abyssexp.schemas.results import MetricInterval

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
#: Metrics that count right images among n: an exact binomial interval fits them.
PROPORTIONS = ("accuracy", "top_3_accuracy", "top_5_accuracy")
#: ``method`` of each kind of interval, as ``metrics.json`` names it.
CLOPPER_PEARSON = "clopper-pearson"
BAYESIAN_BOOTSTRAP = "bayesian-bootstrap"
PERCENTILE_BOOTSTRAP = "percentile-bootstrap"
#: Pseudo-images the Bayesian bootstrap adds (half right, half wrong in expectation): without
#: them a test set with no errors gives [1, 1]; with one or two, macro-F1 at accuracy 0.99 held.
PRIOR_IMAGES = 2.0
#: The share of the Bayesian bootstrap's draws its 95 % interval spans: calibrated by
#: simulation, since the central 95 % of the draws covered only 90–96 % at n=30–100 (the
#: small-n bias of F1); the central 97.5 % covers 95 % or more, conservative as Clopper–Pearson.
DRAW_LEVEL = 0.975
#: Why an interval is missing (``reason``): short phrases that fit a table cell.
CONSTANT = "constant predictions"
SMALL_CLASS = f"fewer than {MIN_EVAL_PER_CLASS} test images in a class"
COLLAPSED = "every resample gave the same value"
#: Narrower than this, an interval is one value in float32 sums: collapsed.
COLLAPSED_WIDTH = 1e-6
#: A paired verdict when no result on these images could have been significant.
TOO_FEW = "too few to tell"


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
        counted = np.asarray(truth.any(axis=1))
        hits["accuracy"] = (truth & predicted).any(axis=1).astype(np.float32)
        ranks = np.argsort(-scores, axis=1)  # as metrics._softmax_agreement ranks them
        for top in (3, 5):
            if top < k:
                hit = np.asarray(np.take_along_axis(truth, ranks[:, :top], axis=1).any(axis=1))
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


def by_image(counts: np.ndarray, whole_counts: bool = True) -> np.ndarray:
    """``counts`` as N×B integers (int16 while N allows): the layout that sorting images by
    score gathers fast, at half the float32 matrix's memory traffic. Weights that are not
    whole counts (``whole_counts=False``: the Bayesian bootstrap's) stay float32."""
    if not whole_counts:
        return np.ascontiguousarray(counts.T, dtype=np.float32)
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
    outcomes: Outcomes,
    counts: np.ndarray,
    wanted: Collection[str] | None = None,
    whole_counts: bool = True,
) -> dict[str, np.ndarray]:
    """Interval metrics (``wanted``, default all) under every row of ``counts`` (draws, or
    weights with ``whole_counts=False``): one value per resample. The image sums of all
    accuracy-like metrics are one matrix product."""
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
        image_counts = by_image(counts, whole_counts)
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


def _percentiles(samples: np.ndarray, level: float = LEVEL) -> tuple[float | None, float | None]:
    """The central ``level`` share of the finite samples (None, None: there are none)."""
    finite = samples[np.isfinite(samples)]
    if not finite.size:
        return None, None
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def _binomial_at_least(n: int) -> Any:
    """``at_least(k, p)``: P(X ≥ k) for X ~ Binomial(n, p), summed in logs (stable at any n);
    the coefficients are worked out once for every p a bisection tries."""
    i = np.arange(n + 1)
    log_factorial = np.r_[0.0, np.cumsum(np.log(np.arange(1, n + 1)))]
    coefficients = log_factorial[n] - log_factorial[i] - log_factorial[n - i]

    def at_least(k: int, p: float) -> float:
        terms = coefficients[k:] + i[k:] * math.log(p) + (n - i[k:]) * math.log1p(-p)
        return min(1.0, float(np.exp(terms).sum()))

    return at_least


def clopper_pearson(right: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The exact binomial interval of ``right`` / ``n``: every p under which what was seen is
    not in either (1 − level)/2 tail. Never below its level at any n, which is why proportions
    use it (4 of 4 right: [0.398, 1.000]). Solved by bisection: no SciPy.

    Example:
        >>> [round(x, 3) for x in clopper_pearson(4, 4)]
        [0.398, 1.0]
    """
    tail = (1.0 - level) / 2.0
    at_least = _binomial_at_least(n)

    def solve(too_high: Any) -> float:
        low, high = 0.0, 1.0
        for _ in range(40):  # 2**-40: far below any digit shown
            middle = (low + high) / 2.0
            low, high = (low, middle) if too_high(middle) else (middle, high)
        return (low + high) / 2.0

    lower = 0.0 if right <= 0 else solve(lambda p: at_least(right, p) >= tail)
    upper = 1.0 if right >= n else solve(lambda p: at_least(right + 1, p) > 1.0 - tail)
    return lower, upper


def bayesian_weights(
    images: int, prior: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED
) -> np.ndarray:
    """B×(N+P) weights: Exponential(1) per test image, Gamma(``prior``) per pseudo-image. A row
    normalised is a Dirichlet draw; the metrics are ratios, so it need not be."""
    rng = np.random.default_rng(seed)
    real = rng.standard_exponential((resamples, images), dtype=np.float32)
    pseudo = rng.gamma(prior, size=(resamples, len(prior))).astype(np.float32)
    return np.concatenate([real, pseudo], axis=1)


def prior_images(outcomes: Outcomes, mass: float = PRIOR_IMAGES) -> tuple[Outcomes, np.ndarray]:
    """Pseudo-images of every kind of outcome and their prior weights (summing to ``mass``).

    Softmax: one per cell of the K×K confusion matrix, half the mass on the diagonal. Sigmoid:
    per class one right positive (half the mass), one missed and one false positive.
    """
    k = outcomes.truth.shape[1]
    eye = np.eye(k, dtype=bool)
    if outcomes.activation == "softmax":
        truth, predicted = np.repeat(eye, k, axis=0), np.tile(eye, (k, 1))
        right = (truth & predicted).any(axis=1)
        prior = np.where(right, mass / (2 * k), mass / (2 * k * max(k - 1, 1)))
    else:
        nothing = np.zeros((k, k), dtype=bool)
        truth, predicted = np.r_[eye, eye, nothing], np.r_[eye, nothing, eye]
        prior = np.repeat([mass / (2 * k), mass / (4 * k), mass / (4 * k)], k)
    return image_outcomes(truth, predicted.astype(np.float64), outcomes.activation), prior


def _joined(first: Outcomes, second: Outcomes) -> Outcomes:
    """The images of both, first's then second's."""
    return Outcomes(
        first.activation,
        np.r_[first.truth, second.truth],
        np.r_[first.scores, second.scores],
        np.r_[first.tp, second.tp],
        np.r_[first.fp, second.fp],
        np.r_[first.fn, second.fn],
        {
            name: np.r_[hits, second.hits[name]]
            for name, hits in first.hits.items()
            if name in second.hits
        },
        np.r_[first.counted, second.counted],
    )


def posterior_samples(
    outcomes: Outcomes,
    wanted: Collection[str],
    resamples: int = RESAMPLES,
    seed: int = SEED,
    mass: float = PRIOR_IMAGES,
) -> dict[str, np.ndarray]:
    """``wanted`` metrics under every Bayesian-bootstrap draw: the F1 scores and hamming
    accuracy with ``mass`` pseudo-images, mAP on the test images alone."""
    pseudo, prior = prior_images(outcomes, mass)
    weights = bayesian_weights(outcomes.images, prior, resamples, seed)
    with_prior = [m for m in wanted if m != "mAP"]
    samples = metric_samples(_joined(outcomes, pseudo), weights, with_prior) if with_prior else {}
    if "mAP" in wanted:
        real = weights[:, : outcomes.images]
        samples.update(metric_samples(outcomes, real, ["mAP"], whole_counts=False))
    return samples


def _constant(rows: np.ndarray) -> bool:
    return len(rows) > 1 and bool((rows == rows[0]).all())


def untrusted(outcomes: Outcomes, metric: str) -> str | None:
    """Why no interval method holds for ``metric`` on these images (None: one does).

    Proportions hold at any n. The others need ``MIN_EVAL_PER_CLASS`` test images in every
    class (below it the simulated coverage was not measured to hold and one image moves a
    class's F1 by 20 points), and a model that does not give one answer for every image (or,
    for mAP, one score row): its F1 says nothing about skill.
    """
    if metric in PROPORTIONS:
        return None
    if (outcomes.truth.sum(axis=0) < MIN_EVAL_PER_CLASS).any():
        return SMALL_CLASS
    rows = outcomes.scores if metric == "mAP" else (outcomes.tp + outcomes.fp) > 0
    return CONSTANT if _constant(rows) else None


def _proportion(outcomes: Outcomes, metric: str, value: float) -> MetricInterval:
    right = int(round(float((outcomes.hits[metric] * outcomes.counted).sum())))
    n = metric_support(outcomes, metric)
    low, high = clopper_pearson(right, n) if n else (None, None)
    return {"value": value, "low": low, "high": high, "n": n, "level": LEVEL,
            "method": CLOPPER_PEARSON}  # fmt: skip


def _bootstrapped(
    metric: str, value: float, n: int, samples: np.ndarray | None, reason: str | None, seed: int
) -> MetricInterval:
    """A Bayesian-bootstrap entry, inside [0, 1] (float32 sums can stray past it) and widened to
    hold ``value`` where the prior pulls it off; no interval when the draws collapsed."""
    low, high = _percentiles(samples, DRAW_LEVEL) if samples is not None else (None, None)
    if reason is None and (low is None or high is None or high - low < COLLAPSED_WIDTH):
        reason = COLLAPSED
    entry: MetricInterval = {"value": value, "low": None, "high": None, "n": n, "level": LEVEL,
                             "method": BAYESIAN_BOOTSTRAP}  # fmt: skip
    if samples is not None:
        entry["resamples"], entry["seed"], entry["draw_level"] = len(samples), seed, DRAW_LEVEL
        if metric != "mAP":
            entry["prior_images"] = PRIOR_IMAGES
    if reason is not None or low is None or high is None:  # no bounds without a reason
        entry["reason"] = reason
        return entry
    entry["low"], entry["high"] = max(0.0, min(low, value)), min(1.0, max(high, value))
    return entry


def metric_intervals(
    outcomes: Outcomes, values: Mapping[str, Any], resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, MetricInterval]:
    """``{metric: {value, low, high, n, level, method, ...}}`` for every interval metric
    ``values`` holds (the point values stay those of ``classification_metrics``).

    ``method`` is ``clopper-pearson`` or ``bayesian-bootstrap`` (with ``resamples``, ``seed``,
    ``draw_level`` and, but for mAP, ``prior_images``); where no method holds, ``low`` and ``high`` are None and ``reason``
    says why (``untrusted``).
    """
    if not outcomes.images:
        return {}
    known = [m for m in INTERVAL_METRICS if values.get(m) is not None]
    known = [m for m in known if m in outcomes.hits or m not in PROPORTIONS + ("hamming_accuracy",)]
    reasons = {m: untrusted(outcomes, m) for m in known if m not in PROPORTIONS}
    sampled = [m for m, reason in reasons.items() if reason is None]
    samples = posterior_samples(outcomes, sampled, resamples, seed) if sampled else {}
    intervals: dict[str, MetricInterval] = {}
    for metric in known:
        value = float(values[metric])
        if metric in PROPORTIONS:
            intervals[metric] = _proportion(outcomes, metric, value)
        else:
            n = metric_support(outcomes, metric)
            found = samples.get(metric)
            intervals[metric] = _bootstrapped(metric, value, n, found, reasons[metric], seed)
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


def _differing_images(first: Outcomes, second: Outcomes, metric: str) -> int | None:
    """Images the two models' outcomes differ on, for a thresholded metric (None: mAP, where
    every score counts)."""
    if metric in first.hits and metric in second.hits:
        counted = first.counted > 0
        return int((first.hits[metric][counted] != second.hits[metric][counted]).sum())
    if metric == "mAP":
        return None
    predicted = [(o.tp + o.fp) > 0 for o in (first, second)]
    return int((predicted[0] != predicted[1]).any(axis=1).sum())


class PairedMeasure(TypedDict):
    """B − A for a metric on the same images, as measured: both values, the difference and its
    interval (``level``, ``method``, ``resamples``, ``seed``); for accuracy McNemar's
    ``p_value`` and the images only A (``a_only``) or only B (``b_only``) got right; the
    ``reason`` when no verdict can be evidence either way."""

    metric: str
    a: float
    b: float
    difference: float
    low: float | None
    high: float | None
    n: int
    level: float
    method: str
    resamples: int
    seed: int
    a_only: NotRequired[int]
    b_only: NotRequired[int]
    p_value: NotRequired[float]
    reason: NotRequired[str]


class PairedDifference(PairedMeasure):
    """A ``PairedMeasure`` with its ``verdict`` (``too few to tell`` when it has a ``reason``)."""

    verdict: str


def paired_too_few(
    first: Outcomes, second: Outcomes, metric: str, result: PairedMeasure
) -> str | None:
    """Why no verdict could be evidence either way (None: one can).

    So few images differ that even all of them going one way would not be significant
    (McNemar: 5 or fewer), a class with fewer than ``MIN_EVAL_PER_CLASS`` test images (for
    the metrics other than proportions), or every paired resample gave the same difference.
    """
    differing = _differing_images(first, second, metric)
    if differing is not None and mcnemar_exact(0, differing) >= 1.0 - LEVEL:
        return f"only {differing} image(s) differ between A and B"
    if untrusted(first, metric) == SMALL_CLASS:
        return SMALL_CLASS
    low, high = result.get("low"), result.get("high")
    if low is None or high is None or high - low < COLLAPSED_WIDTH:
        return COLLAPSED
    return None


def paired_difference(
    first: Outcomes,
    second: Outcomes,
    metric: str,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> PairedDifference:
    """B − A for ``metric`` on the same images (row i of both is the same image), with a paired
    percentile-bootstrap interval and, for accuracy, McNemar's exact test; its ``verdict`` is
    always set."""
    counts = resample_counts(first.images, resamples, seed)
    whole = np.ones((1, first.images), dtype=np.float32)
    a_samples = metric_samples(first, counts, [metric])[metric]
    b_samples = metric_samples(second, counts, [metric])[metric]
    a_value = float(metric_samples(first, whole, [metric])[metric][0])
    b_value = float(metric_samples(second, whole, [metric])[metric][0])
    low, high = _percentiles(b_samples - a_samples)
    result: PairedMeasure = {
        "metric": metric,
        "a": a_value,
        "b": b_value,
        "difference": b_value - a_value,
        "low": low,
        "high": high,
        "n": metric_support(first, metric),
        "level": LEVEL,
        "method": PERCENTILE_BOOTSTRAP,
        "resamples": resamples,
        "seed": seed,
    }
    if metric == "accuracy":
        counted = first.counted > 0
        a_right = first.hits["accuracy"][counted] > 0
        b_right = second.hits["accuracy"][counted] > 0
        a_only, b_only = int((a_right & ~b_right).sum()), int((b_right & ~a_right).sum())
        result["a_only"], result["b_only"] = a_only, b_only
        result["p_value"] = mcnemar_exact(a_only, b_only)
    reason = paired_too_few(first, second, metric, result)
    if reason is not None:
        result["reason"] = reason
    return {**result, "verdict": paired_verdict(result)}


def paired_verdict(result: PairedMeasure) -> str:
    """``B better``, ``A better`` or ``no significant difference`` at 95 %: the interval of
    B − A must exclude 0 and, for accuracy, McNemar's test must agree (p < 0.05);
    ``too few to tell`` when ``result`` has a ``reason`` (``paired_too_few``)."""
    if result.get("reason"):
        return TOO_FEW
    low, high = result.get("low"), result.get("high")
    agrees = result.get("p_value", 0.0) < 1.0 - LEVEL
    if low is not None and low > 0 and agrees:
        return "B better"
    if high is not None and high < 0 and agrees:
        return "A better"
    return "no significant difference"
