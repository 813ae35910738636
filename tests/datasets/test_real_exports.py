"""What users met with real exports, one test each (all failed before this branch)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from abyssexp.cli import app
from tests.datasets.fixtures_exports import (
    write_cvat_export,
    write_label_studio_export,
    write_roboflow_export,
)


def _new(runner, *args: str):
    return runner.invoke(app, ["new", "p", "t", "d", *args])


def _params(result) -> dict:
    root = Path(result.stdout.strip().splitlines()[-1])
    return json.loads((root / "models" / "params.json").read_text())["dataset"]


# 1. Image folders ---------------------------------------------------------------------------


def test_new_finds_cvat_images_records_them_absolute_and_says_so(runner, scratch, tmp_path) -> None:
    files = write_cvat_export(tmp_path / "export", {"train": 4, "val": 4})
    result = _new(runner, "--train", str(files["train"]), "--val", str(files["val"]))
    assert result.exit_code == 0, result.output
    dataset = _params(result)
    images = tmp_path / "export" / "images"
    assert dataset["image_dir"] == {"train": str(images / "train"), "val": str(images / "val")}
    assert dataset["image_dir_given"]["train"] == "found: images/train/ beside annotations/"
    assert f"train images: {images / 'train'} (images/train/ beside annotations/" in result.output


def test_new_refuses_missing_images_naming_them(runner, scratch, tmp_path) -> None:
    files = write_cvat_export(tmp_path / "export", {"train": 6})
    (tmp_path / "export" / "images" / "train" / "frame_000002.jpg").unlink()
    result = _new(runner, "--train", str(files["train"]))
    assert result.exit_code == 2, result.output
    assert "1 of 6 image file(s) not found" in result.output
    assert "frame_000002.jpg" in result.output and "--image-dir" in result.output
    assert not (scratch / "p" / "t").exists() or not any((scratch / "p" / "t").glob("0*"))


def test_typed_image_dir_resolves_against_the_current_directory(
    runner, scratch, tmp_path, monkeypatch
) -> None:
    files = write_cvat_export(tmp_path / "export", {"train": 4})
    monkeypatch.chdir(tmp_path / "export")
    for option in (["--image-dir", "images/train"], ["--set", "dataset.image_dir=images/train"]):
        result = _new(runner, "--train", str(files["train"]), *option)
        assert result.exit_code == 0, result.output
        dataset = _params(result)
        assert dataset["image_dir"]["train"] == str(tmp_path / "export" / "images" / "train")
        assert dataset["image_dir_given"]["train"] == "images/train"


def test_train_images_option_per_split(runner, scratch, tmp_path) -> None:
    files = write_cvat_export(tmp_path / "export", {"train": 4, "val": 4})
    moved = tmp_path / "elsewhere"
    shutil.move(tmp_path / "export" / "images" / "val", moved)
    result = _new(
        runner,
        "--train",
        str(files["train"]),
        "--val",
        str(files["val"]),
        "--val-images",
        str(moved),
    )
    assert result.exit_code == 0, result.output
    assert _params(result)["image_dir"]["val"] == str(moved)


def test_data_check_finds_cvat_images(runner, tmp_path) -> None:
    files = write_cvat_export(tmp_path / "export", {"train": 4})
    result = runner.invoke(app, ["data", "check", str(files["train"])])
    assert result.exit_code == 0, result.output
    assert f"images: {tmp_path / 'export' / 'images' / 'train'}" in result.output


@pytest.mark.parametrize("prefix", ["images/", "/data/upload/3/"])
def test_label_studio_prefixes_resolve(runner, tmp_path, prefix) -> None:
    path = write_label_studio_export(tmp_path / "ls", 4, prefix=prefix)
    for extra in ([], ["--image-dir", str(tmp_path / "ls" / "images")]):
        result = runner.invoke(app, ["data", "check", str(path), *extra, "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["ok"] and report["stats"]["dialect"] == "Label Studio"


# 2. Dialects and the Roboflow placeholder ---------------------------------------------------


@pytest.mark.parametrize(
    ("writer", "tool"),
    [
        (lambda p: write_cvat_export(p, {"default": 4})["default"], "CVAT"),
        (lambda p: write_roboflow_export(p, {"train": 4})["train"], "Roboflow"),
        (lambda p: write_label_studio_export(p, 4), "Label Studio"),
    ],
)
def test_data_check_names_the_exporting_tool(runner, tmp_path, writer, tool) -> None:
    result = runner.invoke(app, ["data", "check", str(writer(tmp_path / "x"))])
    assert result.exit_code == 0, result.output
    assert f"looks like a {tool} export" in result.output


def test_roboflow_placeholder_is_not_a_class(runner, tmp_path) -> None:
    files = write_roboflow_export(tmp_path / "rf", {"train": 4})
    result = runner.invoke(app, ["data", "check", str(files["train"]), "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["stats"]["class_counts"] == {"cat": 2, "dog": 2}
    assert any("dropped category 0 'pets'" in note for note in report["notes"])


def test_roboflow_supercategory_map_is_one_class_not_usable(runner, tmp_path) -> None:
    files = write_roboflow_export(tmp_path / "rf", {"train": 4})
    result = runner.invoke(app, ["data", "check", str(files["train"]), "--map-by", "supercategory"])
    assert result.exit_code == 1, result.output
    assert "only 1 class with images (pets)" in result.output


def test_two_logits_with_one_name_are_refused(runner, scratch, tmp_path) -> None:
    files = write_roboflow_export(tmp_path / "rf", {"train": 4})
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"0": 0, "1": 1, "2": 1}))  # 'pets' and cat+dog (= 'pets')
    check = runner.invoke(
        app, ["data", "check", str(files["train"]), "--category-map", str(mapping)]
    )
    assert check.exit_code == 1 and "logits 0 and 1 are both named 'pets'" in check.output
    new = _new(
        runner,
        "--train",
        str(files["train"]),
        "--set",
        'dataset.category_map={"0": 0, "1": 1, "2": 1}',
    )
    assert new.exit_code == 2 and "both named 'pets'" in new.output


# 3 and 5. Background and verdicts -----------------------------------------------------------


def test_one_category_previews_every_policy_and_needs_a_background(runner, tmp_path) -> None:
    path = write_label_studio_export(tmp_path / "ls", 4, names=("break",), unlabelled=6)
    plain = runner.invoke(app, ["data", "check", str(path), "--json"])
    report = json.loads(plain.stdout)
    assert plain.exit_code == 1 and not report["ok"]
    assert any("--unlabelled background" in p for p in report["problems"])
    assert report["stats"]["policies"] == {
        "drop": {"break": 4},
        "background": {"break": 4, "background": 6},
    }
    background = runner.invoke(app, ["data", "check", str(path), "--unlabelled", "background"])
    assert background.exit_code == 0, background.output
    assert "unlabelled=background" in background.stdout and "usable" in background.stdout


def test_one_class_new_is_refused_and_background_accepted(runner, scratch, tmp_path) -> None:
    path = write_label_studio_export(tmp_path / "ls", 4, names=("break",), unlabelled=6)
    refused = _new(runner, "--train", str(path))
    assert refused.exit_code == 2 and "dataset.unlabelled=background" in refused.output
    accepted = _new(runner, "--train", str(path), "--set", "dataset.unlabelled=background")
    assert accepted.exit_code == 0, accepted.output


def test_class_with_no_images_is_not_usable(runner, tmp_path) -> None:
    files = write_cvat_export(tmp_path / "export", {"train": 4})
    data = json.loads(files["train"].read_text())
    data["categories"].append({"id": 3, "name": "bird", "supercategory": ""})
    files["train"].write_text(json.dumps(data))
    result = runner.invoke(app, ["data", "check", str(files["train"])])
    assert result.exit_code == 1, result.output
    assert "class 'bird': 0 training images; label some images" in result.output


def test_validation_file_missing_a_class_is_not_usable(runner, tmp_path) -> None:
    files = write_cvat_export(tmp_path / "export", {"train": 4, "val": 1})
    result = runner.invoke(app, ["data", "check", str(files["train"]), "--val", str(files["val"])])
    assert result.exit_code == 1, result.output
    assert "class 'dog': 0 validation images; move some images" in result.output


def test_one_class_dataset_is_not_usable(runner, coco_factory, tmp_path) -> None:
    pixels = np.full((8, 8, 3), 90, np.uint8)
    path = coco_factory(
        tmp_path,
        [
            {"id": 1, "file_name": "1.jpg", "pixels": pixels},
            {"id": 2, "file_name": "2.jpg", "pixels": pixels},
        ],
        [{"id": 1, "image_id": 1, "category_id": 1}, {"id": 2, "image_id": 2, "category_id": 1}],
        [{"id": 1, "name": "only"}],
    )
    result = runner.invoke(app, ["data", "check", str(path)])
    assert result.exit_code == 1 and "only 1 class with images" in result.output


def test_class_with_no_images_has_no_imbalance_ratio(runner, tmp_path) -> None:
    # Issue 30: "imbalance ratio 1.00" was printed with a class of 0 images.
    files = write_cvat_export(tmp_path / "export", {"train": 4})
    data = json.loads(files["train"].read_text())
    data["categories"].append({"id": 3, "name": "bird", "supercategory": ""})
    files["train"].write_text(json.dumps(data))
    result = runner.invoke(app, ["data", "check", str(files["train"])])
    assert "imbalance ratio (largest/smallest class)" not in result.output, result.output
    assert "imbalance ratio: none (1 class(es) with 0 images: bird)" in result.output
    report = json.loads(runner.invoke(app, ["data", "check", str(files["train"]), "--json"]).stdout)
    assert report["stats"]["imbalance_ratio"] is None
    assert report["stats"]["empty_classes"] == ["bird"]
