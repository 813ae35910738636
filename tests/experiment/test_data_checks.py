"""``new`` guards the split it is given: validation images that are training images are refused
(by file and by content) unless ``--allow-leaks``, which is recorded (issue 20)."""

import json
import shutil
from pathlib import Path

from abyssexp.cli import app
from tests.datasets.fixtures_exports import write_cvat_export, write_roboflow_export


def _new(runner, *args: str):
    return runner.invoke(app, ["new", "proj", "cls", "d", *args])


def _leaky_val(files: dict[str, Path]) -> Path:
    """A validation file whose first two images are copies of training images (renamed)."""
    train = json.loads(files["train"].read_text())
    val = json.loads(files["valid"].read_text())
    for index in range(2):
        source = files["train"].parent / train["images"][index]["file_name"]
        shutil.copyfile(source, files["valid"].parent / val["images"][index]["file_name"])
    return files["valid"]


def test_new_refuses_val_images_that_are_training_images(runner, scratch, tmp_path) -> None:
    # Before: accepted without a word.
    files = write_roboflow_export(tmp_path / "rf", {"train": 24, "valid": 12})
    val = _leaky_val(files)
    refused = _new(runner, "--train", str(files["train"]), "--val", str(val))
    assert refused.exit_code == 2, refused.output
    assert "2 validation image(s) are also training images (0 same file, 2 same content" in (
        refused.output
    )
    command = f"abyssexp data leaks {files['train'].absolute()} {val.absolute()}"
    assert command in refused.output and "--allow-leaks" in refused.output
    leaks = runner.invoke(app, ["data", "leaks", str(files["train"]), str(val)])
    assert leaks.exit_code == 1 and "same content" in leaks.output
    allowed = _new(runner, "--train", str(files["train"]), "--val", str(val), "--allow-leaks")
    assert allowed.exit_code == 0, allowed.output
    root = Path(allowed.stdout.strip().splitlines()[-1])
    (override,) = json.loads((root / "record.json").read_text())["data_overrides"]
    assert override["flag"] == "--allow-leaks" and override["pairs"] == 2


def test_one_file_listed_in_both_splits_is_refused(runner, scratch, tmp_path) -> None:
    files = write_roboflow_export(tmp_path / "rf", {"train": 24})
    refused = _new(runner, "--train", str(files["train"]), "--val", str(files["train"]))
    assert refused.exit_code == 2, refused.output
    assert "24 validation image(s) are also training images (24 same file, 0 same content" in (
        refused.output
    )


def test_equal_names_in_different_folders_are_not_a_leak(runner, scratch, tmp_path) -> None:
    # CVAT numbers every subset's frames from 1: frame_000001.jpg in train and in val.
    files = write_cvat_export(tmp_path / "cvat", {"train": 24, "val": 12})
    made = _new(runner, "--train", str(files["train"]), "--val", str(files["val"]))
    assert made.exit_code == 0, made.output
