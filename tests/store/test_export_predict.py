"""After promotion: exports checked for parity and covered by `verify`; `predict` reproduces
`test` from its own output; aliases resolve."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from abyssexp.cli import app
from tests.training.helpers import TINY


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, shapes: dict[str, Path]) -> dict[str, Path]:
    """One tiny trained and tested experiment for the whole module."""
    from typer.testing import CliRunner

    runner = CliRunner()
    base = tmp_path_factory.mktemp("deploy")
    roots = {"scratch": base / "scratch", "store": base / "store"}
    common = ["--scratch", str(roots["scratch"])]
    created = runner.invoke(
        app,
        ["new", "proj", "deploy", "tiny", "--train", str(shapes["train"]), "--val"]
        + [str(shapes["val"]), *TINY, "--set", "training.epochs=2", *common],
    )
    assert created.exit_code == 0, created.output
    root = Path(created.stdout.strip().splitlines()[-1])
    for args in (
        ["train", str(root), "--quiet"],
        ["test", str(root), "--coco", str(shapes["test"]), "--condition", "shapes-test"],
    ):
        result = runner.invoke(app, [*args, *common])
        assert result.exit_code == 0, result.output
    return {**roots, "root": root}


@pytest.mark.slow
def test_promote_exports_are_checked_and_verified(trained: dict[str, Path], runner) -> None:
    store = trained["store"]
    result = runner.invoke(
        app,
        ["promote", str(trained["root"]), "--export", "savedmodel,onnx", "--alias", "production"]
        + ["--scratch", str(trained["scratch"]), "--store", str(store)]
        + ["--accept", "constant_predictions,small_test_set"],  # a tiny model on a small test set
    )
    assert result.exit_code == 0, result.output
    promoted = store / "proj" / "deploy" / trained["root"].name
    report = json.loads((promoted / "export" / "export.json").read_text())
    assert set(report["formats"]) == {"savedmodel", "onnx"} and report["parity_images"] == 16
    for row in report["formats"].values():
        assert row["max_abs_difference"] <= 1e-4 and row["top1_agreement"] == 1.0
        assert row["bytes"] > 0 and row["images_per_second"] > 0
    manifest = (promoted / "MANIFEST.sha256").read_text()
    assert "export/model.onnx" in manifest and "export/savedmodel/saved_model.pb" in manifest
    assert runner.invoke(app, ["verify", str(promoted)]).exit_code == 0
    onnx = promoted / "export" / "model.onnx"
    os.chmod(onnx.parent, 0o755)
    os.chmod(onnx, 0o644)
    onnx.write_bytes(onnx.read_bytes()[:-1] + b"x")
    tampered = runner.invoke(app, ["verify", str(promoted)])
    assert tampered.exit_code != 0 and "export/model.onnx" in tampered.output


@pytest.mark.slow
def test_predict_reproduces_test_accuracy(
    trained: dict[str, Path], runner, shapes, tmp_path: Path
) -> None:
    out = tmp_path / "predictions.json"
    result = runner.invoke(
        app,
        ["predict", str(trained["root"]), "--coco", str(shapes["test"]), "--out", str(out)]
        + ["--scratch", str(trained["scratch"])],
    )
    assert result.exit_code == 0, result.output
    predicted = {row["file_name"]: row for row in json.loads(out.read_text())["predictions"]}
    condition = trained["root"] / "testing" / "shapes-test"
    truth = {r["file"]: r["true"] for r in json.loads((condition / "predictions.json").read_text())}
    assert set(truth) <= set(predicted)
    hits = [predicted[f]["predicted"] == true for f, true in truth.items()]
    accuracy = json.loads((condition / "metrics.json").read_text())["accuracy"]
    assert sum(hits) / len(hits) == pytest.approx(accuracy)
    row = next(iter(predicted.values()))
    assert set(row["scores"]) == {"boxy", "pointy", "round"} and len(row["top_k"]) == 3


def test_bad_formats_and_aliases_are_one_line(runner, scratch: Path) -> None:
    bad = runner.invoke(app, ["export", "x.keras", "--format", "tflite", "--out", "o"])
    assert bad.exit_code == 2 and "valid: savedmodel, onnx, litert" in bad.output
    alias = runner.invoke(app, ["predict", "proj/deploy@production", "x.jpg"])
    assert alias.exit_code != 0 and "Traceback" not in alias.output
