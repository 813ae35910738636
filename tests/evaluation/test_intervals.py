"""Intervals (Clopper–Pearson, the Bayesian bootstrap, none where none holds), the paired test
and McNemar's exact test, against direct computations and small seeded coverage simulations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from abyssexp.evaluation.intervals import (
    CONSTANT,
    SMALL_CLASS,
    TOO_FEW,
    clopper_pearson,
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
        assert entry["n"] == 40 and entry["level"] == 0.95
        if name in ("accuracy", "top_3_accuracy"):
            assert entry["method"] == "clopper-pearson"
        else:
            assert entry["method"] == "bayesian-bootstrap" and entry["resamples"] >= 1000
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
    same = paired_difference(good, good, "accuracy")  # no image differs: nothing to weigh
    assert same["difference"] == 0 and same["verdict"] == "too few to tell"
    assert same["p_value"] == 1.0 and same["reason"] == "only 0 image(s) differ between A and B"
    rng = np.random.default_rng(1)
    noisy = image_outcomes(
        truth, np.where(rng.random((200, 1)) < 0.1, 1 - scores, scores), "softmax"
    )
    mixed = paired_difference(good, noisy, "accuracy")
    assert mixed["a_only"] + mixed["b_only"] > 5 and "reason" not in mixed
    assert mixed["verdict"] in ("no significant difference", "A better")
    constant = image_outcomes(truth, np.tile([1.0, 0.0, 0.0], (200, 1)), "softmax")
    better = paired_difference(constant, good, "accuracy")
    assert better["verdict"] == "B better" and better["low"] > 0 and better["p_value"] < 0.05
    assert paired_difference(good, constant, "macro_f1")["verdict"] == "A better"


def _single_label(right: list[bool], k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Truth cycling through k classes; the prediction is the truth where ``right``."""
    labels = np.arange(len(right)) % k
    predicted = np.where(right, labels, (labels + 1) % k)
    return np.eye(k, dtype=bool)[labels], np.eye(k)[predicted]


def _intervals(truth: np.ndarray, scores: np.ndarray) -> dict:
    names = [str(i) for i in range(truth.shape[1])]
    metrics = classification_metrics(truth, scores, names, "softmax")
    return metric_intervals(image_outcomes(truth, scores, "softmax"), metrics)


def test_four_of_four_right_is_clopper_pearson_and_the_f1_scores_say_too_few() -> None:
    intervals = _intervals(*_single_label([True] * 4))
    accuracy = intervals["accuracy"]  # the percentile bootstrap gave [1.000–1.000]
    assert accuracy["low"] == pytest.approx(0.3976, abs=1e-4) and accuracy["high"] == 1.0
    assert accuracy["method"] == "clopper-pearson" and accuracy["n"] == 4
    for name in ("macro_f1", "micro_f1", "weighted_f1", "mAP"):
        entry = intervals[name]
        assert entry["low"] is None and entry["high"] is None, name
        assert entry["reason"] == SMALL_CLASS == "fewer than 5 test images in a class"
        assert entry["value"] == 1.0 and entry["n"] == 4


def test_clopper_pearson_matches_known_values() -> None:
    # R: binom.test(k, n)$conf.int
    assert clopper_pearson(0, 10) == pytest.approx((0.0, 0.3084971), abs=1e-6)
    assert clopper_pearson(7, 10) == pytest.approx((0.3475471, 0.9332605), abs=1e-6)
    assert clopper_pearson(500, 1000) == pytest.approx((0.4685492, 0.5314508), abs=1e-6)


def test_a_constant_model_gets_no_f1_interval_but_keeps_its_accuracy_interval() -> None:
    truth, _ = _single_label([True] * 60)
    intervals = _intervals(truth, np.tile([0.7, 0.2, 0.1], (60, 1)))
    for name in ("macro_f1", "micro_f1", "weighted_f1", "mAP"):
        assert intervals[name]["low"] is None and intervals[name]["reason"] == CONSTANT, name
    assert intervals["accuracy"]["low"] == pytest.approx(0.2169, abs=1e-4)  # 20 of 60


def test_no_errors_on_enough_images_still_gives_an_f1_interval_below_one() -> None:
    intervals = _intervals(*_single_label([True] * 60))
    macro = intervals["macro_f1"]  # a percentile bootstrap collapses to [1, 1] here
    assert macro["high"] == 1.0 and 0.85 < macro["low"] < 0.99 and "reason" not in macro
    assert macro["prior_images"] == 2.0 and macro["seed"] == 20


def test_proportion_interval_covers_at_small_n() -> None:
    """A few hundred seeded test sets at true accuracy 0.9: the exact interval holds 93 %;
    the percentile bootstrap held 34 % at n=4 (docs/reading-the-numbers.md)."""
    rng = np.random.default_rng(7)
    for n in (4, 10):
        covered = 0
        for _ in range(300):
            right = rng.random(n) < 0.9
            truth, scores = _single_label(list(right))
            outcomes = image_outcomes(truth, scores, "softmax")
            entry = metric_intervals(outcomes, {"accuracy": float(right.mean())})["accuracy"]
            covered += entry["low"] <= 0.9 <= entry["high"]
        assert covered / 300 >= 0.93, (n, covered)


def test_f1_interval_covers_the_population_value() -> None:
    """200 seeded test sets of 100 images, 3 balanced classes, accuracy 0.9 (errors to the next
    class): population macro-F1 0.9. Monte-Carlo error ± 0.03."""
    rng = np.random.default_rng(11)
    covered = printed = 0
    for _ in range(200):
        truth, scores = _single_label(list(rng.random(100) < 0.9))
        outcomes = image_outcomes(truth, scores, "softmax")
        value = float(metric_samples(outcomes, np.ones((1, 100), np.float32))["macro_f1"][0])
        entry = metric_intervals(outcomes, {"macro_f1": value})["macro_f1"]
        if entry["low"] is not None:
            printed += 1
            covered += entry["low"] <= 0.9 <= entry["high"]
    assert printed == 200 and covered / printed >= 0.92


def test_paired_verdict_on_few_differing_images_is_too_few_to_tell() -> None:
    truth, scores = _single_label([True] * 10)
    a = image_outcomes(truth, scores, "softmax")
    worse = scores.copy()
    worse[:3] = np.roll(worse[:3], 1, axis=1)  # B misses three images A gets right
    result = paired_difference(a, image_outcomes(truth, worse, "softmax"), "accuracy")
    assert result["verdict"] == TOO_FEW == "too few to tell"
    assert result["reason"] == "only 3 image(s) differ between A and B"
    assert result["p_value"] == pytest.approx(0.25)
    # Seven images all going A's way can be told: McNemar p = 2/128.
    truth, scores = _single_label([True] * 30)
    worse = scores.copy()
    worse[:7] = np.roll(worse[:7], 1, axis=1)
    a, b = (image_outcomes(truth, s, "softmax") for s in (scores, worse))
    assert paired_difference(a, b, "accuracy")["verdict"] == "A better"
    small = paired_difference(
        *(image_outcomes(truth[:9], s[:9], "softmax") for s in (scores, worse)), "macro_f1"
    )
    assert small["verdict"] == TOO_FEW and small["reason"] == SMALL_CLASS
