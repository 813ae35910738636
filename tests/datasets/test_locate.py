"""The images folder, first time (issue 30 item 4): every command that reads images finds them the
same way, and when it cannot, names the folders tried, the files whole and the line to type."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from abyssexp.cli import app
from abyssexp.datasets.locate import PATH_FIELD, find_image_dir, require_images
from abyssexp.errors import InvalidInputError
from tests.datasets.fixtures_exports import write_cvat_export, write_roboflow_export

LONG = "2_jpg.rf.d9b17b4172ebe50ee602011b8ee7c0ffee{}.jpg"


def _moved_cvat(root: Path) -> tuple[Path, Path]:
    """A CVAT export whose images (long Roboflow-style names) sit in a folder no rule knows."""
    coco = write_cvat_export(root, {"default": 4})["default"]
    photos = root / "export_2024" / "photos"
    photos.mkdir(parents=True)
    data = json.loads(coco.read_text())
    for image in data["images"]:
        name = LONG.format(image["id"])
        os.rename(root / "images" / "default" / image["file_name"], photos / name)
        image["file_name"] = name
    coco.write_text(json.dumps(data))
    return coco, photos


def _assert_helpful(output: str, coco: Path, photos: Path, option: str = "--image-dir") -> None:
    flat = " ".join(output.split())
    assert f"{coco}: 4 of 4 image file(s) not found" in flat, output
    assert f"tried: {coco.parent} (the COCO file's folder)" in flat, output
    assert f"{coco.parent.parent / 'images' / 'default'} (images/default/ beside" in flat
    for image_id in range(1, 5):
        assert LONG.format(image_id) in flat, output  # whole, never cut
    assert f"give the images folder: {option} {photos}" in flat, output


@pytest.mark.parametrize(
    "command",
    [
        ["data", "check", "{coco}", "--no-decode"],
        ["data", "split", "{coco}", "--out-dir", "{out}"],
        ["new", "p", "t", "d", "--train", "{coco}"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_missing_images_say_where_looked_and_what_to_type(
    runner, scratch, tmp_path, command
) -> None:
    coco, photos = _moved_cvat(tmp_path / "export")
    args = [a.format(coco=coco, out=tmp_path / "out") for a in command]
    result = runner.invoke(app, args)
    assert result.exit_code in (1, 2), result.output
    _assert_helpful(result.output, coco, photos)
    fixed = runner.invoke(app, [*args, "--image-dir", str(photos)])
    assert fixed.exit_code == 0, fixed.output


def test_predict_coco_finds_images_like_the_others(tmp_path) -> None:
    from abyssexp.evaluation.predict import collect_inputs

    coco, photos = _moved_cvat(tmp_path / "export")
    with pytest.raises(InvalidInputError) as caught:
        collect_inputs([], coco)
    _assert_helpful(str(caught.value), coco, photos)
    found = collect_inputs([], coco, photos)
    assert sorted(p.path.name for p in found) == sorted(LONG.format(i) for i in range(1, 5))
    cvat = write_cvat_export(tmp_path / "plain", {"default": 2})["default"]
    assert all(p.path.is_file() for p in collect_inputs([], cvat))  # images/default/ found


def test_test_checks_images_before_loading_tensorflow(runner, scratch, tmp_path) -> None:
    coco, photos = _moved_cvat(tmp_path / "export")
    train = write_cvat_export(tmp_path / "train", {"default": 4})["default"]
    assert runner.invoke(app, ["new", "p", "t", "d", "--train", str(train)]).exit_code == 0
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom abyssexp.cli import app\n"
        f"r = CliRunner().invoke(app, ['test', 'p/t/1', '--coco', {str(coco)!r}, "
        "'--condition', 'c'])\n"
        "print(r.output)\nprint('EXIT', r.exit_code)\n"
        "print('TF', 'tensorflow' in sys.modules or 'keras' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "COLUMNS": "80"},
        check=True,
    )
    assert "EXIT 2" in done.stdout and "TF False" in done.stdout, done.stdout + done.stderr
    _assert_helpful(done.stdout, coco, photos)


def test_split_then_new_records_the_folder_found_through_path(runner, scratch, tmp_path) -> None:
    coco, photos = _moved_cvat(tmp_path / "export")
    out = tmp_path / "splits"
    split = ["data", "split", str(coco), "--out-dir", str(out), "--val", "0.5", "--test", "0"]
    assert runner.invoke(app, [*split, "--image-dir", str(photos)]).exit_code == 0
    result = runner.invoke(app, ["new", "p", "t", "d", "--train", str(out / "coco.train.json")])
    assert result.exit_code == 0, result.output
    root = Path(result.stdout.strip().splitlines()[-1])
    dataset = json.loads((root / "models" / "params.json").read_text())["dataset"]
    assert dataset["image_dir"]["train"] == str(photos)
    assert dataset["image_dir_given"]["train"] == f"found: {PATH_FIELD}"
    assert "the COCO file's folder" not in result.output


@pytest.mark.parametrize("layout", ["images", "beside", "roboflow"])
def test_export_layouts_are_found(tmp_path, layout) -> None:
    if layout == "roboflow":
        coco = write_roboflow_export(tmp_path, {"train": 4})["train"]
        expected = coco.parent
    else:
        coco = write_cvat_export(tmp_path, {"default": 4})["default"]
        expected = tmp_path / "images"
        for image in (tmp_path / "images" / "default").iterdir():
            target = expected if layout == "images" else tmp_path
            image.rename(target / image.name)
        (tmp_path / "images" / "default").rmdir()
        if layout == "beside":
            (tmp_path / "images").rmdir()
            expected = tmp_path
    images = json.loads(coco.read_text())["images"]
    folder = require_images(coco, images)
    assert folder.path == expected.resolve() and folder.found == 4
    assert find_image_dir(coco, images).path == folder.path
