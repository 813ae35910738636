"""How sure a seed or fold group's mean is, and whether the best group beats the runner-up.

A group is a handful of trials (2 to 10 seeds, K folds) of one configuration; the metric's
spread over them is the noise any other difference must beat. Student's t on the raw values
covers the mean as it says for a loss, but for a score bounded by [0, 1] near its bound the
values are skewed and a plain t interval both leaves the range (``[0.33–1.11]``) and misses the
mean more often than it claims. So, for such scores, the interval is the union of a t interval
on the logit scale (which stays inside (0, 1) and follows the skew) and the plain t interval,
clipped to [0, 1]. ``benchmarks/bench_group_coverage.py`` measures it on a Beta model of
scores: ≥ 93 % coverage of the true mean wherever an interval is printed. Where no method holds
(a trial within ``BOUND_MARGIN`` of 0 or 1, where the mean hides behind values piled at the
bound; or trials that are all equal), no interval is printed and the reason says so.

The 95 % comes from ``metric_direction.LEVEL``; Student's t quantiles are computed here (the
regularised incomplete beta function), so no SciPy is needed. No NumPy: ``compare`` reads it.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from typing import TypedDict

from abyssexp.metric_direction import LEVEL, in_unit_interval, lower_is_better

#: A score this close to 0 or 1 piles up at the bound: no group interval is trusted there.
BOUND_MARGIN = 0.005


def _continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return result


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        + a * math.log(x) + b * math.log1p(-x)
    )  # fmt: skip
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, degrees: float) -> float:
    """P(T ≤ t) for Student's t with ``degrees`` (any positive real) degrees of freedom."""
    tail = 0.5 * incomplete_beta(degrees / 2.0, 0.5, degrees / (degrees + t * t))
    return 1.0 - tail if t >= 0 else tail


@functools.lru_cache(maxsize=1024)
def t_quantile(degrees: float, level: float = LEVEL) -> float:
    """The two-sided ``level`` quantile of Student's t (12.706 for 1 degree at 95 %)."""
    target = 1.0 - (1.0 - level) / 2.0
    low, high = 0.0, 1.0
    while t_cdf(high, degrees) < target:
        high *= 2.0
    for _ in range(200):  # bisection: monotone, and exact to the last bits
        middle = (low + high) / 2.0
        low, high = (middle, high) if t_cdf(middle, degrees) < target else (low, middle)
        if high - low < 1e-12:
            break
    return (low + high) / 2.0


def variance(values: Sequence[float]) -> float:
    """The sample variance in floats (``statistics.variance`` works in exact fractions: many
    times slower, for digits no score's spread needs; the benchmark asks for a million)."""
    mean = math.fsum(values) / len(values)
    return math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)


def _logit(value: float) -> float:
    clipped = min(max(value, BOUND_MARGIN), 1.0 - BOUND_MARGIN)
    return math.log(clipped / (1.0 - clipped))


def _expit(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


def _t_interval(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    half = t_quantile(n - 1) * math.sqrt(variance(values) / n)
    mean = statistics.fmean(values)
    return mean - half, mean + half


class GroupInterval(TypedDict):
    """The interval on a group's mean (``low``/``high`` None: none holds) and how it was made,
    or why there is none (``interval``)."""

    low: float | None
    high: float | None
    interval: str


class GroupDifference(TypedDict):
    """``mean(best) − mean(other)`` with its t interval, and which t."""

    difference: float
    low: float
    high: float
    method: str


def group_interval(values: Sequence[float], metric: str) -> GroupInterval:
    """The interval on the mean of a group of two or more trials, and how it was made.

    Returns:
        ``{"low", "high", "interval"}``: ``interval`` says the method (``t over 3 trials``,
        ``t over 3 trials, logit ∪ plain``, ``..., clipped``), or why there is none
        (``low``/``high`` None): ``too few to tell: ...``.
    """
    n = len(values)
    if n < 2:
        return {"low": None, "high": None, "interval": "one trial: no spread"}
    if len(set(values)) == 1:
        return {"low": None, "high": None, "interval": f"{n} equal trials: too few to tell"}
    low, high = _t_interval(values)
    if not (in_unit_interval(metric) and all(0.0 <= v <= 1.0 for v in values)):
        if low < 0.0 <= min(values) and lower_is_better(metric):  # a loss is never below 0
            return {"low": 0.0, "high": high, "interval": f"t over {n} trials, clipped"}
        return {"low": low, "high": high, "interval": f"t over {n} trials"}
    edge = next((v for v in values if min(v, 1.0 - v) < BOUND_MARGIN), None)
    if edge is not None:
        return {
            "low": None,
            "high": None,
            "interval": f"a trial at the bound ({edge:.4f}): too few to tell",
        }
    logit_low, logit_high = (_expit(v) for v in _t_interval([_logit(v) for v in values]))
    low, high = min(low, logit_low), max(high, logit_high)
    how = f"t over {n} trials, logit ∪ plain"
    if low < 0.0 or high > 1.0:
        low, high, how = max(low, 0.0), min(high, 1.0), how + ", clipped"
    return {"low": low, "high": high, "interval": how}


def pooled_spread(groups: Sequence[Sequence[float]]) -> tuple[float, int] | None:
    """The within-group standard deviation pooled over every group of two or more trials, and
    its degrees of freedom; None when no group has a spread."""
    degrees = sum(len(g) - 1 for g in groups if len(g) > 1)
    if not degrees:
        return None
    squares = sum((len(g) - 1) * variance(g) for g in groups if len(g) > 1)
    return (math.sqrt(squares / degrees), degrees) if squares > 0 else None


def difference(
    best: Sequence[float], other: Sequence[float], pooled: tuple[float, int] | None
) -> GroupDifference | None:
    """``mean(best) − mean(other)`` with its t interval: Welch's when both groups have a spread,
    else with the ``pooled`` within-group spread (the seeds of other configurations); None when
    neither gives a noise to judge by.
    """
    delta = statistics.fmean(best) - statistics.fmean(other)
    spreads = [variance(g) if len(g) > 1 else 0.0 for g in (best, other)]
    if len(best) > 1 and len(other) > 1 and any(spreads):
        parts = [s / len(g) for s, g in zip(spreads, (best, other), strict=True)]
        error = math.sqrt(sum(parts))
        degrees = sum(parts) ** 2 / sum(
            p * p / (len(g) - 1) for p, g in zip(parts, (best, other), strict=True)
        )
        method = "Welch t over trials"
    elif pooled is not None:
        error = pooled[0] * math.sqrt(1.0 / len(best) + 1.0 / len(other))
        degrees, method = pooled[1], "t, seed spread pooled over groups"
    else:
        return None
    half = t_quantile(degrees) * error
    return {"difference": delta, "low": delta - half, "high": delta + half, "method": method}
