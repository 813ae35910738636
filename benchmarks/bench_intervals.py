"""Bootstrap intervals and the paired test on 10,000 test images × 20 classes (target: < 1 s).

What ``abyssexp test`` adds to every result (a 95 % interval and n for accuracy, top-k, the F1
scores and mAP, 1,000 resamples) and what ``compare A B --metric CONDITION:METRIC`` computes
(the paired bootstrap of B − A, and McNemar's exact test for accuracy), on synthetic softmax
scores with ties, as a model's rounded scores give.

Usage: python benchmarks/bench_intervals.py [IMAGES] [CLASSES] [REPEATS]
Reports the median and range (fastest–slowest) of REPEATS runs after one warm-up.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import table  # noqa: E402


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()  # warm-up: first-touch page faults, BLAS threads
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def spread(samples: list[float]) -> str:
    return f"{statistics.median(samples):.3f} s ({min(samples):.3f}–{max(samples):.3f})"


def synthetic(images: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, images)
    truth = np.zeros((images, classes), dtype=bool)
    truth[np.arange(images), labels] = True
    scores = rng.random((images, classes))
    scores[np.arange(images), labels] += 0.4
    scores /= scores.sum(axis=1, keepdims=True)
    return truth, np.round(scores, 3)


def main() -> None:
    from abyssexp.evaluation.intervals import (
        RESAMPLES,
        image_outcomes,
        metric_intervals,
        paired_difference,
    )
    from abyssexp.evaluation.metrics import classification_metrics

    images = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    classes = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    truth, scores = synthetic(images, classes, seed=0)
    _, other = synthetic(images, classes, seed=1)
    other = np.where(np.random.default_rng(2).random(scores.shape) < 0.5, scores, other)
    names = [f"class_{i}" for i in range(classes)]
    metrics = classification_metrics(truth, scores, names, "softmax")
    a = image_outcomes(truth, scores, "softmax")
    b = image_outcomes(truth, other, "softmax")
    without_map = {k: v for k, v in metrics.items() if k != "mAP"}
    cases = [
        ("intervals, every metric (accuracy, top-3/5, 3 F1, mAP)", lambda: metric_intervals(a, metrics)),
        ("intervals without mAP", lambda: metric_intervals(a, without_map)),
        ("paired test, accuracy (bootstrap + McNemar)", lambda: paired_difference(a, b, "accuracy")),
        ("paired test, macro_f1", lambda: paired_difference(a, b, "macro_f1")),
        ("paired test, mAP", lambda: paired_difference(a, b, "mAP")),
        ("image outcomes (per-image pieces, once per result)", lambda: image_outcomes(truth, scores, "softmax")),
    ]  # fmt: skip
    rows = [(name, spread(timed(fn, repeats))) for name, fn in cases]
    table(
        rows,
        f"bootstrap intervals: {images:,} images × {classes} classes, {RESAMPLES:,} resamples, "
        f"median (range) of {repeats}",
    )


if __name__ == "__main__":
    main()
