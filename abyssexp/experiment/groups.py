"""``compare --sweep``: trials that differ only by seed or fold, pooled into groups.

A seed or a fold is not a setting anyone chooses between: its spread is the noise every other
difference must beat. So trials whose params differ only in ``training.seed`` (or in their fold's
training and validation files) form one group, shown as mean ± standard deviation and n; the best
group gets a 95 % interval on its mean (Student's t over its trials, or the test's bootstrap
interval over images when the group has one trial).
"""

from __future__ import annotations

import json
import math
import statistics
from typing import Any

from abyssexp.experiment.compare import lower_is_better, metric_values
from abyssexp.experiment.result_summary import interval_of

#: Params that only say which seed or fold a trial is (``dataset.train``/``val`` already do
#: not count as a difference in ``compare``).
SEED_KEYS = frozenset({"training.seed"})

#: Student's t 97.5 % quantile for 1–30 degrees of freedom (no SciPy needed).
T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_quantile(degrees: int) -> float:
    """The 97.5 % quantile of Student's t (1.96 beyond 30 degrees of freedom)."""
    return T_975[degrees - 1] if 1 <= degrees <= len(T_975) else 1.96


def _label(params: dict[str, list[Any]], index: int) -> str:
    parts = [
        f"{key}={json.dumps(values[index])}"
        for key, values in params.items()
        if key not in SEED_KEYS
    ]
    return " ".join(parts) or "all trials"


def _values(data: dict[str, Any], metric: str | None) -> tuple[str, list[float | None]]:
    """The metric per experiment: ``metric``, else each experiment's monitored best value."""
    columns = data["experiments"]
    if metric:
        return metric, metric_values(columns, metric)
    names = {c["best"]["metric"] for c in columns if c["best"]["metric"]}
    label = names.pop() if len(names) == 1 else "best monitored value"
    return label, [c["best"]["value"] for c in columns]


def _best_interval(group: dict[str, Any], data: dict[str, Any], metric: str) -> dict[str, Any]:
    if group["n"] >= 2 and group["sd"] is not None:
        half = t_quantile(group["n"] - 1) * group["sd"] / math.sqrt(group["n"])
        low, high, how = group["mean"] - half, group["mean"] + half, "t over trials"
    else:
        column = data["experiments"][group["indices"][0]]
        condition, _, name = metric.partition(":")
        found = interval_of(column["tests"].get(condition), name) if name else None
        if not found or found.get("low") is None:
            return {**group, "low": group["mean"], "high": group["mean"], "interval": "none"}
        low, high, how = found["low"], found["high"], "bootstrap over images"
    return {**group, "low": low, "high": high, "interval": how}


def seed_groups(data: dict[str, Any], metric: str | None = None) -> dict[str, Any]:
    """Groups of ``compare``'s experiments that differ only by seed or fold.

    Returns:
        ``{"metric", "groups": [{label, trials, n, mean, sd, indices}], "best": group with
        low, high and how the interval was made}``; groups best first.
    """
    name, values = _values(data, metric)
    groups: dict[str, dict[str, Any]] = {}
    for index, column in enumerate(data["experiments"]):
        label = _label(data["params"], index)
        group = groups.setdefault(label, {"label": label, "trials": [], "indices": [], "v": []})
        group["trials"].append(column["experiment"].rsplit("/", 1)[-1])
        group["indices"].append(index)
        if values[index] is not None:
            group["v"].append(values[index])
    found = []
    for group in groups.values():
        numbers = group.pop("v")
        group["n"] = len(numbers)
        group["mean"] = statistics.fmean(numbers) if numbers else None
        group["sd"] = statistics.stdev(numbers) if len(numbers) > 1 else None
        found.append(group)
    sign = 1.0 if lower_is_better(name) else -1.0
    found.sort(key=lambda g: (g["mean"] is None, sign * (g["mean"] or 0.0)))
    best = _best_interval(found[0], data, name) if found and found[0]["mean"] is not None else None
    return {"metric": name, "groups": found, "best": best}
