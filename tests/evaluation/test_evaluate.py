"""`abyssexp test` on a sigmoid (multilabel) model: threshold, artefacts, record."""

import json
from pathlib import Path

import pytest
from PIL import Image

from abyssexp.cli import app
from tests.training.helpers import new_tiny


@pytest.mark.slow
def test_sigmoid_model_train_and_test(runner, scratch: Path, shapes) -> None:
    root = new_tiny(
        runner,
        shapes,
        "--set",
        "model.output_activation=sigmoid",
        "--set",
        "dataset.unlabelled=zeros",
        "--set",
        "training.epochs=1",
        "--set",
        "training.monitor=val_loss",
        name="multilabel",
    )
    trained = runner.invoke(app, ["train", str(root), "--quiet"])
    assert trained.exit_code == 0, trained.output
    result = runner.invoke(
        app,
        [
            "test",
            str(root),
            "--coco",
            str(shapes["test"]),
            "--condition",
            "held-out",
            "--threshold",
            "0.4",
            "--checkpoint",
            "last",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    folder = root / "testing" / "held-out"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["activation"] == "sigmoid" and metrics["threshold"] == 0.4
    assert metrics["checkpoint"] == "model_1.keras" and metrics["images"] == 24
    assert "hamming_accuracy" in metrics and len(metrics["confusion_matrix"]) == 3
    predictions = json.loads((folder / "predictions.json").read_text())
    assert len(predictions) == 24 and set(predictions[0]["scores"]) == {"boxy", "pointy", "round"}
    assert all(isinstance(p["predicted"], list) for p in predictions)
    for png in ("pr_curves.png", "confusion_matrix.png"):
        with Image.open(folder / png) as image:
            assert image.format == "PNG"
    assert "held-out" in json.loads((root / "record.json").read_text())["tests"]
    assert (folder / "coco.test.json").read_bytes() == shapes["test"].read_bytes()
    report = (folder / "report.txt").read_text()
    assert "hamming_accuracy" in report and "threshold: 0.4" in report
    bad = runner.invoke(
        app,
        ["test", str(root), "--coco", str(shapes["test"]), "--condition", "x", "--checkpoint", "9"],
    )
    assert bad.exit_code == 1 and "model_9.keras: checkpoint not found" in bad.output
