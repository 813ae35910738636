"""What a person sees of a sigmoid (multilabel) model: ``predict`` prints each image's label
set and the thresholds that chose it; the report shows per-class precision and recall."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from abyssexp.cli import app
from tests.training.helpers import new_tiny

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sigmoid(shapes, tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    runner = CliRunner()
    base = tmp_path_factory.mktemp("sigmoid")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ABYSSEXP_SCRATCH", str(base / "scratch"))
        patch.setenv("ABYSSEXP_CONFIG", str(base / "none.toml"))
        root = new_tiny(
            runner,
            shapes,
            *("--set", "model.output_activation=sigmoid", "--set", "dataset.unlabelled=zeros"),
            *("--set", "training.epochs=1", "--set", "training.monitor=val_loss"),
            name="multilabel",
        )
        trained = runner.invoke(app, ["train", str(root), "--quiet"])
        assert trained.exit_code == 0, trained.output
        tested = runner.invoke(
            app, ["test", str(root), "--coco", str(shapes["test"]), "--condition", "held-out"]
        )
        assert tested.exit_code == 0, tested.output
    return root


def test_predict_shows_each_label_set_and_the_thresholds(runner, sigmoid, shapes) -> None:
    args = ["predict", str(sigmoid / "models" / "best.keras"), "--coco", str(shapes["test"])]
    data = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    result = runner.invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "labels" in text and "top class" not in text, text
    lines = text.splitlines()
    for row in data["predictions"][:20]:
        at = next(i for i, line in enumerate(lines) if row["file_name"] in line)
        shown = " ".join(lines[at : at + 2])  # on the same line, or below when folded
        expected = ", ".join(row["predicted"]) or "(none)"
        assert expected in shown, (expected, shown, text)
    thresholds = next(line for line in text.splitlines() if line.startswith("thresholds"))
    for name in data["class_names"]:
        assert re.search(rf"\b{name} \d\.\d\d\b", thresholds), thresholds
    assert "thresholds.json" in thresholds


def test_report_shows_per_class_precision_and_recall(runner, sigmoid) -> None:
    out = sigmoid.parent / "report.html"
    result = runner.invoke(app, ["report", str(sigmoid), "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "per-class precision and recall" in html
    assert "confusion matrix (rows true" not in html  # a softmax view, not a sigmoid's
