"""Overlap of a test file with the experiment's training and validation images (no TensorFlow)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from abyssexp.cli import app
from abyssexp.evaluation.overlap import find_overlap
from abyssexp.experiment.caveats import result_caveats
from abyssexp.schemas.resolve import load_params_file, validate_params


def test_same_file_or_content_count_equal_names_with_other_content_do_not(
    runner, scratch: Path, shapes, tmp_path: Path
) -> None:
    made = runner.invoke(
        app,
        ["new", "proj", "cls", "ds", "--train", str(shapes["train"]), "--val", str(shapes["val"])]
        + ["--set", "dataset.map_by=supercategory"],
    )
    assert made.exit_code == 0, made.output
    root = Path(made.stdout.strip().splitlines()[-1])
    params = validate_params(load_params_file(root / "models" / "params.json"), "params")
    train = json.loads(shapes["train"].read_text())
    test = json.loads(shapes["test"].read_text())
    # A CVAT-like test export: its own folder, the training file names, other pictures...
    folder = tmp_path / "export"
    for image, other in zip(train["images"][:6], test["images"][:6], strict=True):
        target = folder / image["file_name"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shapes["test"].parent / other["file_name"], target)
    # ...and two images copied from the training set under new names (same content).
    for index, image in enumerate(train["images"][6:8]):
        shutil.copy(shapes["train"].parent / image["file_name"], folder / f"copy_{index}.jpg")
    images = [dict(i) for i in train["images"][:6]]
    images += [
        {**train["images"][6 + k], "id": 900 + k, "file_name": f"copy_{k}.jpg"} for k in (0, 1)
    ]
    coco = folder / "coco.test.json"
    coco.write_text(json.dumps({**train, "images": images, "annotations": []}))

    detail = find_overlap(params, root, coco, folder)
    assert detail["images"] == 2 and detail["same_content"] == 2 and detail["same_file"] == 0
    assert detail["with"] == {"train": 2, "val": 0}
    assert sorted(detail["examples"]) == ["copy_0.jpg", "copy_1.jpg"]

    itself = find_overlap(params, root, shapes["val"], shapes["val"].parent)
    assert itself["images"] == len(json.loads(shapes["val"].read_text())["images"])
    assert itself["same_file"] == itself["images"] and itself["with"]["val"] == itself["images"]
    caveats = result_caveats({"images": 24, "overlap": 24, "overlap_detail": itself})
    assert [c["code"] for c in caveats] == ["overlap", "small_test_set"]
    assert "24 of 24 test image(s) are also training or validation images" in caveats[0]["message"]


def test_overlap_counts_only_the_images_the_metrics_count(
    runner, scratch: Path, shapes, tmp_path: Path
) -> None:
    # Issue 30: "25 of 23 test image(s)": overlap counted images the metrics left out.
    made = runner.invoke(
        app,
        ["new", "proj", "cls", "ds", "--train", str(shapes["train"]), "--val", str(shapes["val"])],
    )
    assert made.exit_code == 0, made.output
    root = Path(made.stdout.strip().splitlines()[-1])
    params = validate_params(load_params_file(root / "models" / "params.json"), "params")
    ids = [image["id"] for image in json.loads(shapes["val"].read_text())["images"]]
    evaluated = set(ids[: len(ids) - 4])  # four left out (unlabelled, say)
    detail = find_overlap(params, root, shapes["val"], shapes["val"].parent, evaluated=evaluated)
    assert detail["images"] == len(evaluated) and detail["not_evaluated"] == 4
    metrics = {"images": len(evaluated), "overlap": detail["images"], "overlap_detail": detail}
    message = result_caveats(metrics)[0]["message"]
    assert f"{len(evaluated)} of {len(evaluated)} test image(s)" in message
    assert "(and 4 left out of the metrics)" in message
