"""The winner of a sweep, judged on its noise: ``compare --sweep`` and the end of ``sweep run``.

``results.seed_groups`` ranks the sweep's groups (trials that differ only by seed or fold) and
judges the best against the runner-up on the spread of seeds. Where both are single trials and
the metric is a test result (``CONDITION:METRIC``), the spread of seeds says nothing, but the
two models' predictions on the same test images do: the paired test of ``compare A B`` (paired
bootstrap, McNemar's exact test for accuracy) decides instead. Validation predictions are not
kept per image, so a validation metric of two single trials gets no verdict, and says so.

No NumPy at import: the paired test loads only when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from abyssexp.errors import InvalidInputError
from abyssexp.metric_direction import MINIMIZE
from abyssexp.results.seed_groups import SeedGroups, seed_groups
from abyssexp.schemas.record import Status

if TYPE_CHECKING:
    from abyssexp.results.compare import Comparison
    from abyssexp.sweeps.trials import SweepLocation  # noqa: F401 (annotations)


def _paired(data: Comparison, groups: SeedGroups, metric: str) -> dict[str, Any] | None:
    """The paired verdict of the best single trial (B) against the runner-up (A)."""
    from abyssexp.results.paired import paired_comparison

    columns = data["experiments"]
    if groups["best"] is None or groups["runner_up"] is None:
        return None
    best, other = groups["best"]["indices"][0], groups["runner_up"]["indices"][0]
    paired = paired_comparison(Path(columns[other]["path"]), Path(columns[best]["path"]), metric)
    result = paired["result"]
    if paired["verdict"] is None or result is None:
        return None
    return {
        "distinguishable": paired["verdict"]
        == ("A better" if groups["lower_is_better"] else "B better"),
        "method": f"paired on {result['n']} test images"
        + (", McNemar exact" if "p_value" in result else ""),
        "difference": result["difference"],
        "low": result["low"],
        "high": result["high"],
        "reason": None,
    }


def judged_groups(
    data: Comparison, metric: str | None = None, lower: bool | None = None
) -> SeedGroups:
    """``seed_groups`` with the paired test on the same test images where it applies (two
    single trials, a ``CONDITION:METRIC``); its reason otherwise."""
    groups = seed_groups(data, metric, lower)
    best, other = groups["best"], groups["runner_up"]
    if best is None or other is None or best["n"] != 1 or other["n"] != 1:
        return groups
    if metric and ":" in metric:
        groups["verdict"] = _paired(data, groups, metric) or groups["verdict"]
    return groups


def sweep_direction(location: SweepLocation, metric: str | None) -> bool | None:
    """An Optuna study's own direction when judging by its metric (``--direction`` may differ
    from the name's rule); None: the rule decides."""
    search = location.sweep.optuna
    if search is None or metric not in (None, search.metric):
        return None
    return search.direction == MINIMIZE


def sweep_winner(scratch: Path, location: SweepLocation) -> SeedGroups | None:
    """The end of ``sweep run``: the completed trials' groups, best first, with the verdict
    on the runner-up; None when no trial has completed (or none logged the metric).

    An Optuna sweep is judged by its study's metric and direction; a grid by each trial's
    monitored metric.
    """
    from abyssexp.results.compare import compare_experiments
    from abyssexp.sweeps.selection import Selection, select_roots
    from abyssexp.sweeps.trials import SweepLocation, load_sweep

    # read again: an Optuna sweep's slots added their trials to the file while they ran
    location = SweepLocation(location.path, load_sweep(location.path))
    trials = select_roots(scratch, Selection(sweep=str(location.path)), "sweep", location)
    roots = [str(root) for root in trials if root.is_dir()]
    metric = location.sweep.optuna.metric if location.sweep.optuna else None
    try:
        data = compare_experiments(scratch, roots, metric=metric, status=Status.COMPLETED.value)
    except InvalidInputError:  # nothing completed, or the metric was never logged
        return None
    groups = judged_groups(data, metric, sweep_direction(location, metric))
    return groups if groups["best"] is not None else None
