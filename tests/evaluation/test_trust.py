"""Numbers a team can trust (issue 20), end to end on real tiny models.

Three experiments on a small colour dataset (three classes a tiny CNN learns in a few epochs):
A and B, the same model trained with two seeds, and a deliberately broken copy of A whose head
gives the same scores for every image (its dense kernel zeroed: only the bias is left). All are
tested for real; the assertions are about what `test`, `compare`, `show`, `promote`,
`promoted`, `predict` and `report` say about those results.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from abyssexp.cli import app

pytestmark = pytest.mark.slow

COLOURS = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200)}
SETTINGS = [
    "model.backbone=tinycnn",
    "model.init_weights=none",
    "model.input_shape=[32,32,3]",
    "model.bn_momentum=0.5",
    "training.batch_size=8",
    "training.lr=0.002",
    "training.epochs=8",
    "training.save_model_interval=8",  # one checkpoint per run: the disk is shared
]


def write_colours(folder: Path, split: str, count: int, seed: int, first: int = 0) -> Path:
    """A COCO file of ``count`` noisy single-colour 32×32 PNGs (class = colour)."""
    rng = np.random.default_rng(seed)
    (folder / split).mkdir(parents=True, exist_ok=True)
    names = list(COLOURS)
    images, annotations = [], []
    for i in range(first, first + count):
        pixels = np.array(COLOURS[names[i % 3]], dtype=float) + rng.normal(0, 40, (32, 32, 3))
        file_name = f"{split}/{split}_{i:04d}.png"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / file_name)
        images.append({"id": i + 1, "file_name": file_name, "width": 32, "height": 32})
        annotations.append(
            {"id": i + 1, "image_id": i + 1, "category_id": i % 3 + 1, "bbox": [0, 0, 32, 32]}
        )
    path = folder / f"coco.{split}.json"
    categories = [{"id": k + 1, "name": n} for k, n in enumerate(names)]
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path


def _invoke(runner: Any, *args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def _break_head(source: Path, target: Path) -> None:
    """A copy of ``source`` (an experiment) whose best.keras answers the same for every image."""
    from abyssexp.models.classifier import load_keras_model

    model = load_keras_model(source / "models" / "best.keras", compile=False)
    dense = model.get_layer("head_dense")
    kernel, bias = dense.get_weights()
    dense.set_weights([np.zeros_like(kernel), bias])
    model.save(target / "models" / "best.keras")
    for name in ("class_names.json", "category_map.json"):
        if (source / "models" / name).is_file():
            shutil.copy(source / "models" / name, target / "models" / name)


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    from typer.testing import CliRunner

    base = tmp_path_factory.mktemp("trust")
    data = base / "data"
    files = {
        "train": write_colours(data, "train", 60, seed=1),
        "val": write_colours(data, "val", 30, seed=2),
        "test": write_colours(data, "test", 60, seed=3),
        "other": write_colours(data, "other", 24, seed=4),  # 24 images: a small test set
    }
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ABYSSEXP_SCRATCH", str(base / "scratch"))
        patch.setenv("ABYSSEXP_STORE", str(base / "store"))
        patch.setenv("ABYSSEXP_CONFIG", str(base / "no-config.toml"))
        patch.setenv("COLUMNS", "200")
        sets = [part for s in SETTINGS for part in ("--set", s)]
        made = {}
        for name, seed in (("seed1", 1), ("seed2", 2), ("broken", 1)):
            result = _invoke(
                runner,
                *("new", "proj", "colour", name, "--train", str(files["train"])),
                *("--val", str(files["val"]), *sets, "--set", f"training.seed={seed}"),
            )
            made[name] = Path(result.stdout.strip().splitlines()[-1])
        for name in ("seed1", "seed2"):
            _invoke(runner, "train", str(made[name]), "--quiet")
        _break_head(made["seed1"], made["broken"])
        tests = {}
        for name, condition, coco in (
            ("seed1", "t", "test"),
            ("seed2", "t", "test"),
            ("broken", "t", "test"),
            ("seed1", "ontrain", "train"),
            ("seed1", "x", "test"),
            ("seed2", "x", "other"),
        ):
            tests[(name, condition)] = _invoke(
                runner,
                "test",
                str(made[name]),
                "--coco",
                str(files[coco]),
                "--condition",
                condition,
            )
        yield SimpleNamespace(base=base, files=files, runner=runner, tests=tests, **made)


def _metrics(root: Path, condition: str) -> dict:
    return json.loads((root / "testing" / condition / "metrics.json").read_text())


def _paired(trio: SimpleNamespace, a: Path, b: Path, metric: str) -> dict:
    result = _invoke(trio.runner, "compare", str(a), str(b), "--metric", metric, "--json")
    return json.loads(result.stdout)


def test_metrics_json_holds_value_n_and_interval_per_metric(trio) -> None:
    metrics = _metrics(trio.seed1, "t")
    for name in ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "mAP"):
        entry = metrics["intervals"][name]
        assert entry["value"] == metrics[name] and entry["n"] == 60
        if entry["low"] is None:  # a perfect ranking: every resample gives mAP 1
            assert name == "mAP" and entry["reason"] == "every resample gave the same value"
            continue
        assert entry["low"] <= entry["value"] <= entry["high"]
        if name == "accuracy":
            assert entry["method"] == "clopper-pearson"
        else:
            assert entry["method"] == "bayesian-bootstrap" and entry["resamples"] >= 1000
    assert metrics["overlap"] == 0 and metrics["caveats"] == []
    predictions = json.loads((trio.seed1 / "testing" / "t" / "predictions.json").read_text())
    assert all(len(p["sha256"]) == 64 for p in predictions)
    report = (trio.seed1 / "testing" / "t" / "report.txt").read_text()
    low, high = metrics["intervals"]["accuracy"]["low"], metrics["intervals"]["accuracy"]["high"]
    assert f"[{low:.4f}–{high:.4f}] 95 %  n=60" in report
    printed = trio.tests[("seed1", "t")].stdout
    assert "accuracy " in printed and "n=60" in printed and "overlap   0" in printed


def test_two_seeds_on_the_same_file_show_no_significant_difference(trio) -> None:
    paired = _paired(trio, trio.seed1, trio.seed2, "t:accuracy")["paired"]
    result = paired["result"]
    assert paired["reasons"] == [] and result["n"] == 60 and result["p_value"] >= 0.05
    differing = result["a_only"] + result["b_only"]
    if differing <= 5:  # no count that small could be significant: not evidence of equality
        assert paired["verdict"] == "too few to tell"
        assert result["reason"] == f"only {differing} image(s) differ between A and B"
    else:
        assert paired["verdict"] == "no significant difference"
        assert result["low"] <= 0 <= result["high"]


def test_a_broken_model_against_a_trained_one_is_b_better(trio) -> None:
    paired = _paired(trio, trio.broken, trio.seed1, "t:accuracy")["paired"]
    assert paired["verdict"] == "B better"
    assert paired["result"]["low"] > 0 and paired["result"]["p_value"] < 0.05
    table = _invoke(
        trio.runner, "compare", str(trio.broken), str(trio.seed1), "--metric", "t:accuracy"
    )
    assert "B better" in table.stdout and "McNemar exact" in table.stdout
    assert "B − A" in table.stdout
    assert _paired(trio, trio.broken, trio.seed1, "t:macro_f1")["paired"]["verdict"] == "B better"


def test_different_test_files_give_no_paired_verdict_and_say_why(trio) -> None:
    data = _paired(trio, trio.seed1, trio.seed2, "x:accuracy")
    paired = data["paired"]
    assert paired["verdict"] is None and paired["result"] is None
    assert any("different test files" in r for r in paired["reasons"]), paired["reasons"]
    assert any("n=60 vs n=24" in r for r in paired["reasons"]), paired["reasons"]
    # Fails before issue 20: compare ranked them side by side without a word.
    assert data["test_mismatch"] == [
        "x: different test files (2 different sha256); different numbers of images (60 vs 24)"
    ]
    table = trio.runner.invoke(
        app, ["compare", str(trio.seed1), str(trio.seed2), "--metric", "x:accuracy"]
    )
    assert table.exit_code == 0, table.output
    assert "not comparable test results: x: different test files" in table.stderr
    assert "no paired verdict" in table.stdout


def test_testing_on_the_training_images_says_so(trio) -> None:
    # Fails before issue 20: `test` on a file whose images are the training images said nothing.
    metrics = _metrics(trio.seed1, "ontrain")
    assert metrics["overlap"] == 60 and metrics["overlap_detail"]["with"]["train"] == 60
    assert [c["code"] for c in metrics["caveats"]] == ["overlap"]
    assert "60 of 60 test image(s) are also training" in trio.tests[("seed1", "ontrain")].stderr
    shown = _invoke(trio.runner, "show", str(trio.seed1))
    assert "caveat: ontrain: 60 of 60 test image(s)" in shown.stderr
    assert "overlap" in shown.stdout and "n=60" in shown.stdout


def test_a_small_test_set_is_a_caveat(trio) -> None:
    codes = [c["code"] for c in _metrics(trio.seed2, "x")["caveats"]]
    assert "small_test_set" in codes
    record = json.loads((trio.seed2 / "record.json").read_text())
    assert "small_test_set" in [c["code"] for c in record["tests"]["x"]["caveats"]]


def test_promoted_lists_a_constant_model_with_its_caveat(trio, tmp_path) -> None:
    store = tmp_path / "store"
    promote = ("promote", str(trio.broken), "--store", str(store), "--require", "t:accuracy>=0.1")
    # --require holds, but a constant model blocks until accepted by name (issue 29).
    refused = trio.runner.invoke(app, list(promote))
    assert refused.exit_code == 1 and "--accept constant_predictions" in refused.output
    promoted = _invoke(trio.runner, *promote, "--accept", "constant_predictions")
    # Accepted, the caveat is printed and copied into the entry.
    assert "caveat: t: the model gave the same answer for every test image" in promoted.stderr
    entry = json.loads((store / "proj" / "colour" / trio.broken.name / "entry.json").read_text())
    assert [c["code"] for c in entry["caveats"]["t"]] == ["constant_predictions"]
    # Fails before issue 20: listed at t:0.333 without a word.
    listed = _invoke(trio.runner, "promoted", "--store", str(store), "--wide")
    assert "(constant_predictions accepted)" in listed.stdout and "n=60" in listed.stdout
    assert "same answer for every test image" in listed.stderr


def test_predict_warns_when_every_image_gets_the_same_answer(trio) -> None:
    folder = str(trio.files["test"].parent / "test")
    broken = trio.runner.invoke(app, ["predict", str(trio.broken), folder])
    assert broken.exit_code == 0, broken.output
    # Fails before issue 20: the same score for every image, and no warning.
    assert "every one of the 60 images got the same top class" in broken.stderr
    trained = trio.runner.invoke(app, ["predict", str(trio.seed1), folder, "--json"])
    assert json.loads(trained.stdout)["warning"] is None


def test_the_html_report_shows_caveats_and_intervals(trio, tmp_path) -> None:
    out = tmp_path / "report.html"
    _invoke(
        trio.runner, "report", str(trio.broken), "--compare", str(trio.seed1), "--out", str(out)
    )
    html = out.read_text()
    # Fails before issue 20: the caveat stayed in report.txt.
    assert "caveat (constant_predictions)" in html
    interval = _metrics(trio.seed1, "t")["intervals"]["accuracy"]
    assert f"[{interval['low']:.2f}–{interval['high']:.2f}] n=60" in html


def test_old_metrics_files_without_intervals_still_read(trio, tmp_path) -> None:
    old = tmp_path / "old" / "proj" / "colour" / trio.seed2.name
    shutil.copytree(trio.seed2, old)
    folder = old / "testing" / "t"
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("intervals", "caveats", "overlap", "overlap_detail"):
        metrics.pop(key)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    predictions = json.loads((folder / "predictions.json").read_text())
    for row in predictions:
        row.pop("sha256")
    (folder / "predictions.json").write_text(json.dumps(predictions))
    record = json.loads((old / "record.json").read_text())
    record["tests"] = {"t": {k: record["tests"]["t"][k] for k in ("accuracy", "images")}}
    (old / "record.json").write_text(json.dumps(record))
    scratch = ["--scratch", str(tmp_path / "old")]
    shown = _invoke(trio.runner, "show", str(old), *scratch)
    assert f"{metrics['accuracy']:.3f}" in shown.stdout
    table = _invoke(trio.runner, "compare", str(old), str(trio.seed1), "--metric", "t:accuracy")
    assert "no paired verdict" in table.stdout and "tested before per-image hashes" in table.stdout
    _invoke(trio.runner, "report", str(old), *scratch, "--out", str(tmp_path / "old.html"))
    listed = _invoke(trio.runner, "list", *scratch, "--wide")
    assert f"t:{metrics['accuracy']:.3f}" in listed.stdout
