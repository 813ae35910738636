"""``compare --sweep``: trials that differ only by seed or fold, pooled into groups.

A seed or a fold is not a setting anyone chooses between: its spread is the noise every other
difference must beat. So trials whose params differ only in ``training.seed`` (or in their fold's
training and validation files) form one group, shown as mean ± standard deviation and n, with a
95 % interval on its mean that stays inside the metric's range (``group_intervals``). The best
group is then judged against the runner-up on that noise: Welch's t when both have a spread,
else t with the spread of the sweep's other groups, else no verdict (the reason says why; a
paired test on the same test images is added by ``evaluation.winners`` where it applies).
"""

from __future__ import annotations

import json
import statistics
from typing import Any, TypedDict

from abyssexp.experiment.result_digest import interval_of
from abyssexp.metric_direction import lower_is_better
from abyssexp.results.compare import Comparison, metric_values
from abyssexp.results.group_intervals import (
    GroupInterval,
    difference,
    group_interval,
    pooled_spread,
)

#: Params that only say which seed or fold a trial is (``dataset.train``/``val`` already do
#: not count as a difference in ``compare``).
SEED_KEYS = frozenset({"training.seed"})
#: What a verdict says when nothing measured the noise.
NO_NOISE = (
    "one trial each and no seed spread in the sweep; seeds of both (sweep new --seeds K) "
    "or a test of both (compare --metric CONDITION:METRIC) can tell"
)


class SeedGroups(TypedDict):
    """``seed_groups``' result: the groups best first, and the verdict on the runner-up."""

    metric: str
    lower_is_better: bool
    #: ``{label, trials, indices, values, n, mean, sd, low, high, interval}`` per group.
    groups: list[dict[str, Any]]
    best: dict[str, Any] | None
    runner_up: dict[str, Any] | None
    #: ``{distinguishable, method, difference, low, high, reason}``; None without a runner-up.
    verdict: dict[str, Any] | None


def _label(params: dict[str, list[Any]], index: int) -> str:
    parts = [
        f"{key}={json.dumps(values[index])}"
        for key, values in params.items()
        if key not in SEED_KEYS
    ]
    return " ".join(parts) or "all trials"


def _values(data: Comparison, metric: str | None) -> tuple[str, list[float | None]]:
    """The metric per experiment: ``metric``, else each experiment's monitored best value."""
    columns = data["experiments"]
    if metric:
        return metric, metric_values(columns, metric)
    names = {c["best"]["metric"] for c in columns if c["best"]["metric"]}
    label = names.pop() if len(names) == 1 else "best monitored value"
    return label, [c["best"]["value"] for c in columns]


def _interval(group: dict[str, Any], data: Comparison, metric: str) -> GroupInterval:
    """The group's interval; a one-trial group's is its test interval over images, if any."""
    found = group_interval(group["values"], metric)
    if group["n"] == 1 and ":" in metric:
        column = data["experiments"][group["indices"][0]]
        condition, _, name = metric.partition(":")
        tested = interval_of(column["tests"].get(condition), name)
        if tested and tested.get("low") is not None and tested.get("high") is not None:
            low, high = tested["low"], tested["high"]
            found = {"low": low, "high": high, "interval": "one trial: its test interval"}
    return found


def _verdict(
    best: dict[str, Any], other: dict[str, Any], found: list[dict[str, Any]]
) -> dict[str, Any]:
    """Is ``best`` distinguishable from ``other`` on the sweep's noise? ``distinguishable`` is
    None when nothing measured it."""
    pooled = pooled_spread([g["values"] for g in found])
    judged = difference(best["values"], other["values"], pooled)
    if judged is None:
        return {"distinguishable": None, "method": None, "reason": NO_NOISE}
    # the interval of best − other must exclude 0 on the side that makes ``best`` better
    better = judged["high"] < 0 if best["lower"] else judged["low"] > 0
    return {**judged, "distinguishable": better, "reason": None}


def seed_groups(
    data: Comparison, metric: str | None = None, lower: bool | None = None
) -> SeedGroups:
    """Groups of ``compare``'s experiments that differ only by seed or fold, best first.

    Args:
        data: ``compare_experiments``' result.
        metric: the metric to judge by (default: each experiment's monitored best value).
        lower: lower is better (default: ``metric_direction``'s rule for the metric's name; an
            Optuna study passes its own direction).

    Returns:
        ``{"metric", "groups": [{label, trials, indices, values, n, mean, sd, low, high,
        interval}], "best", "runner_up", "verdict"}``; ``verdict`` (None without a runner-up):
        ``{distinguishable, method, difference, low, high, reason}``.
    """
    name, values = _values(data, metric)
    lower = lower_is_better(name) if lower is None else lower
    groups: dict[str, dict[str, Any]] = {}
    for index, column in enumerate(data["experiments"]):
        label = _label(data["params"], index)
        group = groups.setdefault(
            label, {"label": label, "trials": [], "indices": [], "values": []}
        )
        group["trials"].append(column["experiment"].rsplit("/", 1)[-1])
        group["indices"].append(index)
        if values[index] is not None:
            group["values"].append(values[index])
    found = []
    for group in groups.values():
        numbers = group["values"]
        group["n"] = len(numbers)
        group["mean"] = statistics.fmean(numbers) if numbers else None
        group["sd"] = statistics.stdev(numbers) if len(numbers) > 1 else None
        if numbers:
            group.update(_interval(group, data, name))
        found.append(group)
    factor = 1.0 if lower else -1.0
    found.sort(key=lambda g: (g["mean"] is None, factor * (g["mean"] or 0.0)))
    ranked = [g for g in found if g["mean"] is not None]
    best = ranked[0] if ranked else None
    runner_up = ranked[1] if len(ranked) > 1 else None
    verdict = None
    if best and runner_up:
        verdict = _verdict({**best, "lower": lower}, runner_up, ranked)
    return {
        "metric": name,
        "lower_is_better": lower,
        "groups": found,
        "best": best,
        "runner_up": runner_up,
        "verdict": verdict,
    }
