"""``compare --sweep``: trials that differ only by seed are pooled as mean ± sd and n, with an
interval that stays in the metric's range, and the best is judged against the runner-up."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path
from typing import Any

import pytest

from abyssexp.cli import app
from abyssexp.cli.compare_cmd import winner_lines
from abyssexp.results.group_intervals import group_interval, t_quantile
from abyssexp.results.seed_groups import seed_groups
from tests.training.helpers import new_tiny


def test_t_quantiles() -> None:
    table = {1: 12.706, 2: 4.303, 4: 2.776, 9: 2.262, 30: 2.042, 100: 1.984, 10**6: 1.960}
    for degrees, expected in table.items():
        assert t_quantile(degrees) == pytest.approx(expected, abs=5e-4), degrees
    assert t_quantile(4.5) == pytest.approx(2.6589, abs=5e-4)  # Welch's degrees are real


def test_a_score_groups_interval_stays_in_its_range_and_says_how() -> None:
    found = group_interval([0.9, 0.7, 0.95], "val_macro_f1")  # plain t: [0.52-1.12]
    assert 0.0 <= found["low"] < found["high"] <= 1.0
    assert found["interval"] == "t over 3 trials, logit ∪ plain, clipped"
    loss = group_interval([0.3, 0.4], "val_loss")
    assert loss["low"] == 0.0 and loss["interval"] == "t over 2 trials, clipped"
    assert group_interval([0.5, 0.6, 0.7], "val_loss")["interval"] == "t over 3 trials"
    told = {
        "one trial: no spread": [0.8],
        "3 equal trials: too few to tell": [0.8, 0.8, 0.8],
        "a trial at the bound (1.0000): too few to tell": [0.9, 1.0, 0.95],
    }
    for reason, values in told.items():
        assert group_interval(values, "val_accuracy") == {
            "low": None, "high": None, "interval": reason
        }  # fmt: skip


def test_group_intervals_cover_the_true_mean_on_a_beta_model() -> None:
    # A small cut of benchmarks/bench_group_coverage.py (seeded): scores of 3 to 5 seeds.
    draw = random.Random(29)
    for mean, sd, n in ((0.7, 0.1, 3), (0.9, 0.05, 5), (0.97, 0.02, 3)):
        k = mean * (1 - mean) / sd**2 - 1
        shown = covered = 0
        for _ in range(400):
            values = [draw.betavariate(mean * k, (1 - mean) * k) for _ in range(n)]
            found = group_interval(values, "val_accuracy")
            if found["low"] is not None:
                shown += 1
                covered += found["low"] <= mean <= found["high"]
        assert shown >= 300 and covered / shown >= 0.9, (mean, sd, n, covered, shown)


def _sweep_data(values: dict[str, list[float]], tests: bool = False) -> dict[str, Any]:
    """``compare``'s data for trials of a grid over ``training.lr`` (key: lr, values: one per
    seed), as ``compare_experiments`` returns it."""
    columns, lrs, seeds = [], [], []
    for lr, scores in values.items():
        for seed, score in enumerate(scores):
            number = len(columns) + 1
            tested = {"low": score - 0.1, "high": min(score + 0.05, 1.0), "n": 30}
            columns.append(
                {
                    "experiment": f"proj/grid/{number:03d}.tiny.lr{lr}",
                    "path": f"/nowhere/{number:03d}",
                    "validation": {"val_macro_f1": {"value": score}},
                    "best": {"metric": "val_macro_f1", "value": score, "epoch": 1},
                    "tests": (
                        {"c": {"macro_f1": score, "intervals": {"macro_f1": tested}}}
                        if tests
                        else {}
                    ),
                }
            )
            lrs.append(float(lr))
            seeds.append(seed)
    return {"experiments": columns, "params": {"training.lr": lrs, "training.seed": seeds}}


def test_the_best_group_is_judged_against_the_runner_up_on_the_seed_spread() -> None:
    data = _sweep_data({"1e-3": [0.91, 0.85, 0.88], "2e-3": [0.70, 0.74, 0.69]})
    groups = seed_groups(data)
    best, verdict = groups["best"], groups["verdict"]
    assert best["label"] == "training.lr=0.001" and groups["runner_up"]["n"] == 3
    assert 0.0 <= best["low"] < best["mean"] < best["high"] <= 1.0
    assert verdict["distinguishable"] is True and verdict["method"] == "Welch t over trials"
    lines = winner_lines(groups)
    assert lines[0] == "best group: training.lr=0.001"
    assert lines[1].startswith("  val_macro_f1 0.8800 [0.") and "n=3 (t over 3" in lines[1]
    assert "distinguishable at 95 %" in "\n".join(lines)
    close = seed_groups(_sweep_data({"1e-3": [0.91, 0.80, 0.88], "2e-3": [0.84, 0.88, 0.86]}))
    assert close["verdict"]["distinguishable"] is False
    assert "not distinguishable at 95 %" in "\n".join(winner_lines(close))
    assert all(len(line) <= 80 for line in lines + winner_lines(close))


def test_a_one_trial_group_never_prints_a_zero_width_interval() -> None:
    groups = seed_groups(_sweep_data({"1e-3": [0.8884], "2e-3": [0.8512], "5e-3": [0.80]}))
    best = groups["best"]
    assert best["low"] is None and best["interval"] == "one trial: no spread"
    lines = winner_lines(groups)
    assert lines[:2] == [
        "best trial: 001.tiny.lr1e-3", "  val_macro_f1 0.8884 n=1 (one trial: no spread)"
    ]  # fmt: skip
    assert "[0.8884" not in "\n".join(lines)
    assert groups["verdict"]["distinguishable"] is None
    assert "cannot tell them apart: one trial each" in "\n".join(lines)
    assert all(len(line) <= 80 for line in lines)
    # a single trial's test interval is its interval; the seeds of another group judge it
    tested = seed_groups(
        _sweep_data({"1e-3": [0.93], "2e-3": [0.70, 0.74, 0.69]}, tests=True), "c:macro_f1"
    )
    best = tested["best"]
    assert (best["low"], best["high"]) == (pytest.approx(0.83), pytest.approx(0.98))
    assert best["interval"] == "one trial: its test interval"
    assert tested["verdict"]["method"] == "t, seed spread pooled over groups"
    assert tested["verdict"]["distinguishable"] is True


@pytest.mark.slow
def test_seeds_are_pooled_per_grid_point_with_the_best_groups_interval(
    runner, scratch: Path, shapes
) -> None:
    base = new_tiny(runner, shapes, "--set", "training.epochs=1")
    made = runner.invoke(
        app,
        ["sweep", "new", "proj", "grid", "tiny", "--from", str(base)]
        + ["--grid", "training.lr=2e-3,1e-3", "--seeds", "2"],
    )
    assert made.exit_code == 0, made.output
    for trial in sorted((scratch / "proj" / "grid").glob("00*")):
        trained = runner.invoke(app, ["train", str(trial), "--quiet"])
        assert trained.exit_code == 0, trained.output
    result = runner.invoke(
        app, ["compare", "--sweep", "proj/grid/s001", "--metric", "val_loss", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    groups = data["groups"]
    assert groups["metric"] == "val_loss"
    assert sorted(g["label"] for g in groups["groups"]) == [
        "training.lr=0.001",
        "training.lr=0.002",
    ]
    losses = {c["experiment"].rsplit("/", 1)[-1]: c["validation"]["val_loss"]["value"]
              for c in data["experiments"]}  # fmt: skip
    for group in groups["groups"]:
        values = [losses[name] for name in group["trials"]]
        assert group["n"] == 2 and len({n.rsplit(".", 1)[-1] for n in group["trials"]}) == 2
        assert group["mean"] == pytest.approx(statistics.fmean(values))
        assert group["sd"] == pytest.approx(statistics.stdev(values))
    best = groups["best"]
    assert best["mean"] == min(g["mean"] for g in groups["groups"])  # a loss: lower is better
    half = t_quantile(1) * best["sd"] / 2**0.5
    assert best["low"] == pytest.approx(max(best["mean"] - half, 0.0))
    assert best["interval"].startswith("t over 2 trials")
    assert groups["verdict"]["method"] == "Welch t over trials"
    table = runner.invoke(app, ["compare", "--sweep", "s001", "--metric", "val_loss"])
    assert table.exit_code == 0, table.output
    assert "seeds and folds pooled" in table.stdout and "best group: training.lr=" in table.stdout
    assert " ± " in table.stdout and "runner-up: training.lr=" in table.stdout
    assert "distinguishable at 95 %" in table.stdout
