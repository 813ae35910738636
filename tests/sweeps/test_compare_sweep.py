"""``compare --sweep``: trials that differ only by seed are pooled as mean ± sd and n."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from abyssexp.cli import app
from abyssexp.experiment.groups import t_quantile
from tests.training.helpers import new_tiny


def test_t_quantiles() -> None:
    assert t_quantile(1) == 12.706 and t_quantile(4) == 2.776 and t_quantile(100) == 1.96


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
    assert best["low"] == pytest.approx(best["mean"] - half) and best["interval"] == "t over trials"
    table = runner.invoke(app, ["compare", "--sweep", "s001", "--metric", "val_loss"])
    assert table.exit_code == 0, table.output
    assert "seeds and folds pooled" in table.stdout and "best group: training.lr=" in table.stdout
    assert " ± " in table.stdout
