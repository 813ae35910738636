"""Bootstrap intervals, the paired test and McNemar's exact test, against direct computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from abyssexp.evaluation.intervals import (
    image_outcomes,
    mcnemar_exact,
    metric_intervals,
    metric_samples,
    paired_difference,
    resample_counts,
)
from abyssexp.evaluation.metrics import average_precision, classification_metrics


def _data(n: int, k: int, activation: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    truth = np.zeros((n, k), dtype=bool)
    truth[np.arange(n), labels] = True
    if activation == "sigmoid":
        truth |= rng.random((n, k)) < 0.2
    scores = rng.random((n, k))
    scores[np.arange(n), labels] += 0.3
    return truth, np.round(scores, 1)  # rounded: tied scores, as real models give


@pytest.mark.parametrize(("activation", "k"), [("softmax", 4), ("softmax", 8), ("sigmoid", 3)])
def test_every_metric_on_all_images_equals_classification_metrics(activation, k) -> None:
    truth, scores = _data(300, k, activation)
    metrics = classification_metrics(truth, scores, [str(i) for i in range(k)], activation)
    outcomes = image_outcomes(truth, scores, activation)
    whole = metric_samples(outcomes, np.ones((1, len(truth)), dtype=np.float32))
    assert set(whole) >= {"accuracy", "macro_f1", "micro_f1", "weighted_f1", "mAP"}
    for name, values in whole.items():
        assert values[0] == pytest.approx(metrics[name], abs=1e-6), name


def test_intervals_are_seeded_hold_the_value_and_narrow_with_more_images() -> None:
    def interval(n: int) -> dict:
        truth, scores = _data(n, 4, "softmax", seed=n)
        metrics = classification_metrics(truth, scores, list("abcd"), "softmax")
        return metric_intervals(image_outcomes(truth, scores, "softmax"), metrics)

    small, again, large = interval(40), interval(40), interval(2000)
    assert small == again  # the same predictions give the same interval
    for name, entry in small.items():
        assert entry["low"] <= entry["value"] <= entry["high"], name
        assert entry["n"] == 40 and entry["resamples"] >= 1000 and entry["level"] == 0.95
    width = {name: e["high"] - e["low"] for name, e in small.items()}
    assert all(large[name]["high"] - large[name]["low"] < width[name] / 3 for name in width)
    # A proportion's 95 % interval is about ±1.96·sqrt(p(1-p)/n).
    p = large["accuracy"]["value"]
    expected = 2 * 1.96 * math.sqrt(p * (1 - p) / 2000)
    assert large["accuracy"]["high"] - large["accuracy"]["low"] == pytest.approx(expected, rel=0.2)


def test_accuracy_counts_only_labelled_images_on_softmax() -> None:
    truth, scores = _data(50, 3, "softmax")
    truth[:10] = False  # unlabelled images (dataset.unlabelled=background/zeros)
    metrics = classification_metrics(truth, scores, list("abc"), "softmax")
    intervals = metric_intervals(image_outcomes(truth, scores, "softmax"), metrics)
    assert intervals["accuracy"]["n"] == 40 and intervals["macro_f1"]["n"] == 50


def test_resample_counts_rows_are_draws_of_every_image() -> None:
    counts = resample_counts(100, 1000, seed=3)
    assert counts.shape == (1000, 100) and (counts.sum(axis=1) == 100).all()
    assert counts.mean() == pytest.approx(1.0) and (resample_counts(100, 1000, 3) == counts).all()


def test_weighted_average_precision_matches_average_precision_per_class() -> None:
    truth, scores = _data(120, 3, "sigmoid", seed=5)
    outcomes = image_outcomes(truth, scores, "sigmoid")
    doubled = np.full((1, 120), 2.0, dtype=np.float32)  # every image drawn twice: same AP
    expected = np.mean([average_precision(truth[:, c], scores[:, c]) for c in range(3)])
    assert metric_samples(outcomes, doubled)["mAP"][0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("a_only", "b_only", "expected"),
    [(0, 0, 1.0), (0, 6, 2 / 64), (1, 9, 2 * 11 / 1024), (5, 5, 1.0), (3, 12, 0.03515625)],
)
def test_mcnemar_exact_is_the_two_sided_binomial_test(a_only, b_only, expected) -> None:
    assert mcnemar_exact(a_only, b_only) == pytest.approx(expected)
    assert mcnemar_exact(b_only, a_only) == pytest.approx(expected)


def test_mcnemar_exact_on_many_discordant_images_stays_finite() -> None:
    p = mcnemar_exact(3000, 3100)
    assert 0.1 < p < 0.5  # normal approximation: z = 100 / sqrt(6100) = 1.28, p = 0.20


def test_paired_difference_verdicts() -> None:
    truth, scores = _data(200, 3, "softmax")
    good = image_outcomes(truth, scores, "softmax")
    same = paired_difference(good, good, "accuracy")
    assert same["difference"] == 0 and same["verdict"] == "no significant difference"
    assert same["p_value"] == 1.0
    constant = image_outcomes(truth, np.tile([1.0, 0.0, 0.0], (200, 1)), "softmax")
    better = paired_difference(constant, good, "accuracy")
    assert better["verdict"] == "B better" and better["low"] > 0 and better["p_value"] < 0.05
    assert paired_difference(good, constant, "macro_f1")["verdict"] == "A better"
