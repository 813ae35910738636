"""Decisions on the uncertainty (issue 29, item 2): ``promote --require`` on an end of the 95 %
interval, and blocking caveats that stop ``promote`` and ``alias set`` until accepted by name.

The metrics.json files here are made by the real evaluation code (``classification_metrics``,
``metric_intervals``, ``result_caveats``) from a model's scores, so what the gate reads is what
``abyssexp test`` writes; the slow test at the end trains and tests for real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from abyssexp.cli import app
from abyssexp.errors import InvalidInputError
from abyssexp.experiment.record_file import record_test
from abyssexp.experiment.result_digest import summarise_test
from abyssexp.store.promotion import parse_requirement
from tests.store.conftest import one_line_error


def real_metrics(right: int, wrong: int, constant: bool = False) -> dict[str, Any]:
    """metrics.json of a 2-class softmax model right on the first ``right`` images and wrong on
    ``wrong`` more (``constant``: it answers class 0 for everything), as ``test`` writes it."""
    from abyssexp.evaluation.intervals import image_outcomes, metric_intervals
    from abyssexp.evaluation.metrics import classification_metrics
    from abyssexp.experiment.caveats import result_caveats

    images = right + wrong
    labels = np.arange(images) % 2  # both classes
    answers = np.where(np.arange(images) < right, labels, 1 - labels)
    if constant:  # the right ones are the common class 0
        labels = (np.arange(images) >= right).astype(int)
        answers = np.zeros(images, dtype=int)
    truth = np.eye(2)[labels]
    scores = np.eye(2)[answers] * 0.8 + 0.1
    metrics = classification_metrics(truth, scores, ["a", "b"], "softmax")
    metrics.update(images=images, activation="softmax")
    metrics["intervals"] = metric_intervals(image_outcomes(truth, scores, "softmax"), metrics)
    metrics["caveats"] = result_caveats(metrics)
    return metrics


def experiment_tested(runner: Any, metrics: dict[str, Any], name: str = "ds", *new: str) -> Path:
    """An experiment (``new`` with extra options), a checkpoint and one tested condition."""
    result = runner.invoke(app, ["new", "proj", "cls", name, *new])
    assert result.exit_code == 0, result.output
    root = Path(result.stdout.strip().splitlines()[-1])
    (root / "models" / "best.keras").write_bytes(b"weights")
    (root / "testing" / "test").mkdir(parents=True)
    (root / "testing" / "test" / "metrics.json").write_text(json.dumps(metrics))
    record_test(root / "record.json", "test", summarise_test(metrics))
    return root


def test_requirement_names_its_bound() -> None:
    assert parse_requirement("t:accuracy.low>=0.8").bound == "low"
    assert parse_requirement("t:accuracy.low>=0.8").metric == "accuracy"
    assert parse_requirement("t:accuracy>=0.8", "low").bound == "low"
    assert parse_requirement("t:accuracy.value>=0.8", "low").bound == "value"
    assert parse_requirement("t:per_class.a.f1>=0.5").metric == "per_class.a.f1"
    assert str(parse_requirement("t:macro_f1.high<0.9")) == "t:macro_f1.high<0.9"
    for bad in ("t:accuracy>=1e999", "t:accuracy>=-1e999"):
        with pytest.raises(InvalidInputError, match="not a finite number"):
            parse_requirement(bad)
    with pytest.raises(InvalidInputError, match="--require-on 'middle'"):
        parse_requirement("t:accuracy>=0.5", "middle")


def test_the_low_end_gates_where_the_value_passes(runner, scratch: Path) -> None:
    # 26 of 30 right: accuracy 0.87, but its interval reaches down to about 0.70.
    metrics = real_metrics(26, 4)
    low = metrics["intervals"]["accuracy"]["low"]
    assert metrics["accuracy"] > 0.85 > 0.8 > low
    root = experiment_tested(runner, metrics)
    on_low = runner.invoke(app, ["promote", str(root), "--require", "test:accuracy.low>=0.8"])
    assert on_low.exit_code == 1, on_low.output
    line = one_line_error(on_low.output)
    assert "--require test:accuracy.low>=0.8 not met: measured accuracy.low = " in line
    flag = runner.invoke(
        app, ["promote", str(root), "--require", "test:accuracy>=0.8", "--require-on", "low"]
    )
    assert flag.exit_code == 1 and "accuracy.low" in flag.output
    passed = runner.invoke(app, ["promote", str(root), "--require", f"test:accuracy.low>={low}"])
    assert passed.exit_code == 0, passed.output
    other = experiment_tested(runner, metrics, "other")
    on_value = runner.invoke(app, ["promote", str(other), "--require", "test:accuracy>=0.8"])
    assert on_value.exit_code == 0, on_value.output


def test_no_interval_is_too_few_to_tell(runner, scratch: Path) -> None:
    metrics = real_metrics(26, 4)
    metrics["intervals"]["macro_f1"].update(low=None, high=None, reason="a reason given")
    root = experiment_tested(runner, metrics)
    result = runner.invoke(app, ["promote", str(root), "--require", "test:macro_f1.low>=0.5"])
    assert result.exit_code == 1
    line = one_line_error(result.output)
    assert "no trustworthy interval (a reason given): too few to tell" in line
    del metrics["intervals"]  # tested before intervals existed
    old = experiment_tested(runner, metrics, "old")
    result = runner.invoke(app, ["promote", str(old), "--require", "test:accuracy.low>=0.5"])
    assert result.exit_code == 1
    assert "has no interval for 'accuracy'" in one_line_error(result.output)


@pytest.mark.parametrize("value", ["Infinity", "1e308", "-5", "NaN"])
def test_a_damaged_metric_never_passes_a_gate(runner, scratch: Path, value: str) -> None:
    root = experiment_tested(runner, {"accuracy": 0.5})
    text = (root / "testing" / "test" / "metrics.json").read_text()
    (root / "testing" / "test" / "metrics.json").write_text(text.replace("0.5", value))
    result = runner.invoke(app, ["promote", str(root), "--require", "test:accuracy>=0.8"])
    assert result.exit_code == 1, result.output
    line = one_line_error(result.output)
    assert "is not a number in [0, 1]: the file is damaged; run `abyssexp test` again" in line


def test_blocking_caveats_refuse_until_accepted_by_name(runner, scratch: Path) -> None:
    metrics = real_metrics(3, 1, constant=True)  # 4 images, one answer for all
    codes = [c["code"] for c in metrics["caveats"]]
    assert "constant_predictions" in codes and "small_test_set" in codes
    root = experiment_tested(runner, metrics)
    refused = runner.invoke(app, ["promote", str(root), "--require", "test:accuracy>=0.7"])
    assert refused.exit_code == 1, refused.output
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert f"{root}: promote refused: 2 blocking caveat(s)" in lines[0]
    assert any("test: constant_predictions: the model gave the same answer" in x for x in lines)
    assert any("test: small_test_set: only 4 test image(s)" in x for x in lines)
    assert "--accept constant_predictions,small_test_set" in lines[-1]
    assert "Traceback" not in refused.output
    assert not (scratch.parent / "store" / "proj").exists()
    partly = runner.invoke(app, ["promote", str(root), "--accept", "small_test_set"])
    assert partly.exit_code == 1 and "constant_predictions" in partly.output
    assert "small_test_set:" not in partly.output
    bogus = runner.invoke(app, ["promote", str(root), "--accept", "small_class,typo"])
    assert bogus.exit_code == 2
    assert "small_class, typo is not a blocking caveat" in one_line_error(bogus.output)
    accepted = runner.invoke(
        app, ["promote", str(root), "--accept", "constant_predictions,small_test_set"]
    )
    assert accepted.exit_code == 0, accepted.output
    (entry_file,) = (scratch.parent / "store").glob("proj/cls/*/entry.json")
    entry = json.loads(entry_file.read_text())
    assert entry["accepted_caveats"] == ["constant_predictions", "small_test_set"]
    shown = runner.invoke(app, ["promoted", "--wide"])
    assert "constant_predictions accepted" in shown.output
    assert "small_test_set accepted" in shown.output


def test_alias_set_asks_for_the_same_acceptance(runner, scratch: Path) -> None:
    good = experiment_tested(runner, real_metrics(60, 2), "good")
    bad = experiment_tested(runner, real_metrics(3, 1, constant=True), "bad")
    assert runner.invoke(app, ["promote", str(good), "--alias", "production"]).exit_code == 0
    promoted = runner.invoke(
        app, ["promote", str(bad), "--accept", "constant_predictions,small_test_set"]
    )
    assert promoted.exit_code == 0, promoted.output
    refused = runner.invoke(app, ["alias", "set", "proj/cls", "production", bad.name])
    assert refused.exit_code == 1, refused.output
    assert f"proj/cls/{bad.name}: alias set refused: 2 blocking caveat(s)" in refused.output
    assert "--accept constant_predictions,small_test_set" in refused.output
    history = runner.invoke(app, ["promoted", "--history", "proj/cls@production", "--json"])
    assert [m["to"] for m in json.loads(history.stdout)] == [good.name]
    moved = runner.invoke(
        app,
        ["alias", "set", "proj/cls", "production", bad.name]
        + ["--accept", "constant_predictions,small_test_set"],
    )
    assert moved.exit_code == 0, moved.output
    history = runner.invoke(app, ["promoted", "--history", "proj/cls@production", "--json"])
    last = json.loads(history.stdout)[-1]
    assert last["to"] == bad.name
    assert last["via"] == "alias set --accept constant_predictions,small_test_set"


@pytest.mark.s3
def test_require_on_the_low_end_on_s3(runner, scratch: Path, s3_store) -> None:
    metrics = real_metrics(26, 4)
    root = experiment_tested(runner, metrics)
    refused = runner.invoke(app, ["promote", str(root), "--require", "test:accuracy.low>=0.8"])
    assert refused.exit_code == 1
    assert "not met: measured accuracy.low" in one_line_error(refused.output)
    low = metrics["intervals"]["accuracy"]["low"]
    passed = runner.invoke(app, ["promote", str(root), "--require", f"test:accuracy.low>={low}"])
    assert passed.exit_code == 0, passed.output
    bad = experiment_tested(runner, real_metrics(3, 1, constant=True), "bad")
    refused = runner.invoke(app, ["promote", str(bad)])
    assert refused.exit_code == 1 and "--accept constant_predictions" in refused.output
    accepted = runner.invoke(
        app, ["promote", str(bad), "--accept", "constant_predictions,small_test_set"]
    )
    assert accepted.exit_code == 0, accepted.output
    shown = runner.invoke(app, ["promoted", "--json"])
    rows = {row["name"]: row for row in json.loads(shown.stdout)}
    assert rows[bad.name]["accepted_caveats"] == ["constant_predictions", "small_test_set"]
    refused = runner.invoke(app, ["alias", "set", "proj/cls", "production", bad.name])
    assert refused.exit_code == 1 and "alias set refused" in refused.output


@pytest.mark.slow
def test_a_constant_model_on_4_images_made_with_force_data_is_refused(
    runner, scratch: Path, tmp_path: Path
) -> None:
    """The issue's case, for real: ``new --force-data`` on an export where one class never
    trains alone, ``train``, ``test`` on 4 images; the gate on the value alone would pass."""
    from tests.datasets.fixtures_exports import TINY, write_detection_export

    splits = {
        "train": [["fertile"]] * 12 + [["fertile", "infertile"]] * 4,
        "valid": [["fertile"]] * 6 + [["fertile", "infertile"]] * 2,
        "test": [["fertile"]] * 3 + [["infertile"]],
    }
    files = write_detection_export(tmp_path / "eggs", splits, ("fertile", "infertile"))
    made = runner.invoke(
        app,
        ["new", "eggs", "cls", "forced", "--train", str(files["train"])]
        + ["--val", str(files["valid"]), "--force-data", *TINY],
    )
    assert made.exit_code == 0, made.output
    root = Path(made.stdout.strip().splitlines()[-1])
    trained = runner.invoke(app, ["train", str(root), "--quiet"])
    assert trained.exit_code == 0, trained.output
    tested = runner.invoke(
        app, ["test", str(root), "--coco", str(files["test"]), "--condition", "test"]
    )
    assert tested.exit_code == 0, tested.output
    metrics = json.loads((root / "testing" / "test" / "metrics.json").read_text())
    codes = {c["code"] for c in metrics["caveats"]}
    assert {"constant_predictions", "small_test_set", "data_override"} <= codes
    assert metrics["accuracy"] == 0.75  # "fertile" for everything: 3 of 4
    refused = runner.invoke(app, ["promote", str(root), "--require", "test:accuracy>=0.7"])
    assert refused.exit_code == 1, refused.output
    assert "promote refused: 3 blocking caveat(s)" in refused.output
    assert "test: data_override: made with `new --force-data` despite: " in refused.output
    flag = "--accept constant_predictions,data_override,small_test_set"
    assert flag in refused.output
    assert not (scratch.parent / "store" / "eggs").exists()
    accepted = runner.invoke(app, ["promote", str(root), *flag.split()])
    assert accepted.exit_code == 0, accepted.output
