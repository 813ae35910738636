"""How often a seed group's 95 % interval covers the true mean (target: ≥ 93 % where shown).

``compare --sweep`` and the end of ``sweep run`` give a group of seeds (or folds) an interval on
its mean (``abyssexp/results/group_intervals.py``). Here scores of n seeds are drawn from a
Beta model with a known mean and standard deviation, the shipped ``group_interval`` is asked
for each draw, and the share of printed intervals that hold the true mean is counted, beside
the share of draws for which no interval is printed ("too few to tell": a trial within 0.005 of
the bound) and beside the plain t interval that ``compare --sweep`` printed before (which left
[0, 1] and did not say so). A second table checks the verdict: two groups of the same
configuration (equal means) must be called distinguishable at most ~5 % of the time.

Usage: python benchmarks/bench_group_coverage.py [DRAWS] [SEED]   (default 10000 draws, seed 29)
"""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from abyssexp.results.group_intervals import (  # noqa: E402
    difference,
    group_interval,
    t_quantile,
    variance,
)

MEANS = (0.7, 0.9, 0.97)
SDS = (0.02, 0.05, 0.10, 0.15)
SIZES = (2, 3, 5, 10)


def beta_draws(rng: np.random.Generator, mean: float, sd: float, shape: tuple) -> np.ndarray:
    """Scores with this mean and standard deviation (a Beta distribution)."""
    k = mean * (1.0 - mean) / sd**2 - 1.0
    return rng.beta(mean * k, (1.0 - mean) * k, size=shape)


def plain_t_covers(values: list[float], mean: float) -> bool:
    half = t_quantile(len(values) - 1) * math.sqrt(variance(values) / len(values))
    return abs(statistics.fmean(values) - mean) <= half


def coverage_cell(rng: np.random.Generator, mean: float, sd: float, n: int, draws: int) -> str:
    """``shipped % (told %) / plain t %`` for one (mean, sd, n)."""
    shown = covered = plain = 0
    for row in beta_draws(rng, mean, sd, (draws, n)).tolist():
        found = group_interval(row, "val_accuracy")
        plain += plain_t_covers(row, mean)
        if found["low"] is not None:
            shown += 1
            covered += found["low"] <= mean <= found["high"]
    told = 100.0 * (draws - shown) / draws
    shipped = f"{100.0 * covered / shown:5.1f}" if shown >= 200 else "  -  "
    return f"{shipped} ({told:3.0f}) / {100.0 * plain / draws:5.1f}"


def false_verdicts(rng: np.random.Generator, mean: float, sd: float, n: int, draws: int) -> str:
    """How often two groups of equal mean are called distinguishable (Welch t)."""
    wrong = judged = 0
    for row in beta_draws(rng, mean, sd, (draws, 2 * n)).tolist():
        found = difference(row[:n], row[n:], None)
        if found is not None:
            judged += 1
            wrong += found["low"] > 0 or found["high"] < 0
    return f"{100.0 * wrong / max(judged, 1):4.1f}"


def main() -> None:
    draws = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 29
    rng = np.random.default_rng(seed)
    print(f"## Seed-group intervals: coverage of the true mean, {draws} draws per cell\n")
    print("shipped % of printed intervals (% told 'too few to tell') / old plain t %\n")
    print("| mean | sd | " + " | ".join(f"n={n}" for n in SIZES) + " |")
    print("|---|---|" + "---|" * len(SIZES))
    for mean in MEANS:
        for sd in SDS:
            if sd**2 >= mean * (1.0 - mean):
                continue  # no Beta has it
            cells = [coverage_cell(rng, mean, sd, n, draws) for n in SIZES]
            print(f"| {mean} | {sd:.2f} | " + " | ".join(cells) + " |")
    print(f"\n## Verdicts: equal means called distinguishable (%), {draws} pairs per cell\n")
    print("| mean | sd | " + " | ".join(f"n={n}" for n in SIZES[:3]) + " |")
    print("|---|---|" + "---|" * 3)
    for mean, sd in ((0.7, 0.05), (0.9, 0.05), (0.97, 0.02)):
        cells = [false_verdicts(rng, mean, sd, n, draws) for n in SIZES[:3]]
        print(f"| {mean} | {sd:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
