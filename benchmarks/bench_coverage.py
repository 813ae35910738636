"""How often each interval method covers the true value, on simulated test sets.

A 95 % interval is judged by what it promises: over many test sets of n images, it must hold the
true value 95 % of the time. This benchmark draws test sets from a known truth and counts.

- Accuracy (a proportion), n ∈ {4, 10, 30, 100, 1000} × true accuracy ∈ {0.5, 0.8, 0.9, 0.99}:
  the coverage is *exact*, not simulated: every possible count of right images k = 0..n is
  weighed by its binomial probability (the bootstrap's draws are seeded, so its interval is a
  function of k too). No Monte-Carlo error.
- Macro-F1 of a 3-class model (class shares 0.5/0.3/0.2; an error picks another class at
  random), at the same n and accuracies, REPS simulated test sets each (a quarter of that at
n=1000, where each costs 20 times more); the true value is the
  model's macro-F1 on the whole population. A constant model (always the first class) too.
- Hamming accuracy of a 3-label sigmoid model (each label present 30 %, each label right with
  the given probability, independently).

Candidates: the old percentile bootstrap, the Bayesian bootstrap with 0 or 2 pseudo-images
(the central 95 % of its draws), and the chosen one (2 pseudo-images, the central 97.5 %: the
calibration the 95 % columns show is needed). Each uses abyssexp's own code with its fixed
seed and 1,000 resamples. Coverage is
counted over the test sets where a method printed an interval; "too few" is how often it said
"too few to tell" instead. Monte-Carlo error: ± 2·sqrt(c(1−c)/m) for m printed intervals
(± 0.022 at c = 0.95, m = 400; ± 0.044 at m = 100).

Usage: python benchmarks/bench_coverage.py [REPS]   (default 400: about two minutes on a core)
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = (4, 10, 30, 100, 1000)
ACCURACIES = (0.5, 0.8, 0.9, 0.99)
SHARES = np.array([0.5, 0.3, 0.2])


def wilson(right: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval (a candidate for proportions)."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def binomial_pmf(n: int, p: float) -> np.ndarray:
    k = np.arange(n + 1)
    log_factorial = np.r_[0.0, np.cumsum(np.log(np.arange(1, n + 1)))]
    logs = log_factorial[n] - log_factorial[k] - log_factorial[n - k]
    return np.exp(logs + k * math.log(p) + (n - k) * math.log1p(-p))


def percentile(samples: np.ndarray) -> tuple[float, float]:
    return tuple(float(x) for x in np.percentile(samples, [2.5, 97.5]))


def proportion_rows() -> list[str]:
    """Exact coverage of accuracy intervals: Clopper–Pearson (chosen), Wilson, the old
    percentile bootstrap (1,000 seeded resamples of k right among n)."""
    from abyssexp.evaluation.intervals import clopper_pearson, resample_counts

    rows = []
    for n in SIZES:
        draws = np.cumsum(resample_counts(n), axis=1)  # column k-1: right images drawn
        boot = [(0.0, 0.0)] + [percentile(draws[:, k - 1] / n) for k in range(1, n + 1)]
        for p in ACCURACIES:
            pmf = binomial_pmf(n, p)
            likely = np.flatnonzero(pmf > 1e-12)  # the rest cannot move a digit shown
            cover = {"cp": 0.0, "wilson": 0.0, "old": 0.0}
            for k in likely:
                for name, (low, high) in (
                    ("cp", clopper_pearson(int(k), n)),
                    ("wilson", wilson(int(k), n)),
                    ("old", boot[k]),
                ):
                    cover[name] += pmf[k] * (low <= p <= high)
            rows.append(
                f"{n:>5} {p:>5}  {cover['cp']:>8.3f}  {cover['wilson']:>8.3f}  {cover['old']:>8.3f}"
            )
    return rows


def f1_truth(accuracy: float, constant: bool) -> float:
    """Macro-F1 on the whole population (the joint share of each true, predicted pair)."""
    k = len(SHARES)
    if constant:
        joint = np.zeros((k, k))
        joint[:, 0] = SHARES
    else:
        confusion = np.full((k, k), (1 - accuracy) / (k - 1))
        np.fill_diagonal(confusion, accuracy)
        joint = SHARES[:, None] * confusion
    tp = np.diag(joint)
    precision = np.divide(tp, joint.sum(0), out=np.zeros(k), where=joint.sum(0) > 0)
    recall = tp / joint.sum(1)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k),
                   where=precision + recall > 0)  # fmt: skip
    return float(f1.mean())


def single_label(n: int, accuracy: float, constant: bool, rng: np.random.Generator):
    from abyssexp.evaluation.intervals import image_outcomes

    k = len(SHARES)
    truth = rng.choice(k, n, p=SHARES)
    if constant:
        predicted = np.zeros(n, dtype=int)
    else:
        wrong = (truth + rng.integers(1, k, n)) % k
        predicted = np.where(rng.random(n) < accuracy, truth, wrong)
    return image_outcomes(np.eye(k, dtype=bool)[truth], np.eye(k)[predicted], "softmax")


def multilabel(n: int, right: float, rng: np.random.Generator):
    from abyssexp.evaluation.intervals import image_outcomes

    truth = rng.random((n, 3)) < 0.3
    predicted = np.where(rng.random((n, 3)) < right, truth, ~truth)
    return image_outcomes(truth, predicted.astype(float), "sigmoid")


def repetitions(reps: int, n: int) -> int:
    """Test sets simulated at size n: a quarter of ``reps`` at n=1000, where one costs 20
    times more and the bootstrap is near its large-sample behaviour."""
    return max(reps // 4, 1) if n >= 1000 else reps


class Tally:
    """Printed intervals, how many covered the truth, and how many said too few to tell."""

    def __init__(self) -> None:
        self.printed = self.covered = self.few = 0

    def add(self, low: float | None, high: float | None, truth: float) -> None:
        if low is None or high is None:
            self.few += 1
        else:
            self.printed += 1
            self.covered += low <= truth <= high

    def cell(self, reps: int) -> str:
        coverage = f"{self.covered / self.printed:.3f}" if self.printed else "  -  "
        few = f"{100 * self.few / reps:.0f}%"
        if self.printed and self.few and few == "100%":
            few = ">99%"  # a few printed: their coverage is shown, but says little
        return f"{coverage} {few:>4}"


def candidates(outcomes, metric: str, truth: float, tallies: dict[str, Tally]) -> None:
    """Every bootstrap candidate on one simulated test set, tallied."""
    from abyssexp.evaluation.intervals import (
        metric_intervals,
        metric_samples,
        posterior_samples,
        resample_counts,
        untrusted,
    )

    whole = np.ones((1, outcomes.images), dtype=np.float32)
    value = float(metric_samples(outcomes, whole, [metric])[metric][0])
    old = metric_samples(outcomes, resample_counts(outcomes.images), [metric])[metric]
    tallies["old"].add(*percentile(old), truth)
    reason = untrusted(outcomes, metric)
    for name, mass in (("prior 0", 0.0), ("prior 2", 2.0)):  # the central 95 % of the draws
        if reason is None:
            tallies[name].add(*percentile(posterior_samples(outcomes, [metric], mass=mass)[metric]),
                              truth)  # fmt: skip
        else:
            tallies[name].add(None, None, truth)
    chosen = metric_intervals(outcomes, {metric: value})[metric]
    tallies["chosen"].add(chosen["low"], chosen["high"], truth)


def simulated_rows(reps: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    cases = [("macro_f1", a, False) for a in ACCURACIES] + [("macro_f1", 0.0, True)]
    cases += [("hamming_accuracy", a, False) for a in (0.8, 0.99)]
    rows = []
    for metric, accuracy, constant in cases:
        if metric == "macro_f1":
            truth = f1_truth(accuracy, constant)
        else:
            truth = accuracy
        for n in SIZES:
            tallies = {name: Tally() for name in ("old", "prior 0", "prior 2", "chosen")}
            for _ in range(repetitions(reps, n)):
                if metric == "macro_f1":
                    outcomes = single_label(n, accuracy, constant, rng)
                else:
                    outcomes = multilabel(n, accuracy, rng)
                candidates(outcomes, metric, truth, tallies)
            label = "constant" if constant else f"{accuracy}"
            cells = "  ".join(f"{tallies[name].cell(repetitions(reps, n)):>11}" for name in tallies)
            name = "hamming" if metric == "hamming_accuracy" else metric
            rows.append(f"{name:<8}{label:>9} {n:>5} {truth:>6.3f} {cells}")
    return rows


def main() -> None:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    start = time.perf_counter()
    print("## coverage of 95 % intervals for accuracy (exact: every k weighed by its probability)")
    print()
    print("    n     p  clopper-  wilson    old per-")
    print("            pearson*             centile")
    print("\n".join(proportion_rows()))
    print()
    print(f"## coverage of the bootstrap metrics ({reps} simulated test sets per row)")
    print("   coverage among printed intervals, then how often it said too few to tell;")
    for m in sorted({repetitions(reps, n) for n in SIZES}, reverse=True):
        print(f"   Monte-Carlo error ± {2 * math.sqrt(0.95 * 0.05 / m):.3f} at 0.95 over {m} sets")
    print()
    print("metric    accuracy     n  truth     old pct  bayes p0 95  bayes p2 95     chosen*")
    print("\n".join(simulated_rows(reps)))
    print()
    print("* chosen: Clopper–Pearson for proportions; for the rest the Bayesian bootstrap with")
    print("  2 pseudo-images, the central 97.5 % of its draws, and no interval below 5 test")
    print("  images in a class or for constant predictions. bayes p0 95 / p2 95: the central")
    print("  95 % of the draws with 0 or 2 pseudo-images, under the same rules.")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
