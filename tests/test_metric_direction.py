"""One rule for a metric's direction and range (issue 29 item 3, issue 32 item 3)."""

from __future__ import annotations

import pytest

from abyssexp import metric_direction as md


@pytest.mark.parametrize(
    "metric",
    ["loss", "val_loss", "val_error", "test:error", "val_mse", "val_binary_crossentropy",
     "val_false_positives", "val_mean_absolute_error", "val_MAE"],
)  # fmt: skip
def test_loss_error_and_their_kin_minimise(metric: str) -> None:
    assert md.lower_is_better(metric)
    assert md.direction(metric) == "minimize" and md.keras_mode(metric) == "min"
    assert md.sign(metric) == 1.0
    assert not md.in_unit_interval(metric)


@pytest.mark.parametrize(
    "metric", ["accuracy", "val_accuracy", "val_macro_f1", "cond:mAP", "val_auc", "val_recall"]
)
def test_everything_else_maximises_and_scores_live_in_the_unit_interval(metric: str) -> None:
    assert not md.lower_is_better(metric)
    assert md.direction(metric) == "maximize" and md.keras_mode(metric) == "max"
    assert sorted([0.2, 0.9, 0.5], key=lambda v: md.sign(metric) * v)[0] == 0.9
    assert md.in_unit_interval(metric)


def test_unknown_names_maximise_but_claim_no_range() -> None:
    assert md.direction("val_distinct_predictions") == "maximize"
    assert not md.in_unit_interval("val_distinct_predictions")


def test_the_level_has_one_home() -> None:
    from abyssexp.evaluation import intervals

    assert intervals.LEVEL is md.LEVEL == 0.95
