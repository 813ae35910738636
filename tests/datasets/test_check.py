"""``data check`` on good and malformed inputs, through the CLI."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from abyssexp.cli import app


def _copy_shapes(shapes: dict[str, Path], tmp_path: Path) -> Path:
    root = shapes["train"].parent
    target = tmp_path / "data"
    shutil.copytree(root, target)
    return target / "coco.train.json"


def test_good_file(runner, shapes) -> None:
    result = runner.invoke(
        app, ["data", "check", str(shapes["train"]), "--map-by", "supercategory", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["stats"]["images"] == 48 and report["stats"]["classes"] == 3
    assert set(report["stats"]["class_counts"]) == {"boxy", "pointy", "round"}
    table = runner.invoke(app, ["data", "check", str(shapes["train"])])
    assert "imbalance ratio" in table.stdout and "usable" in table.stdout


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d, p: p.write_text(json.dumps(d)[:-30]), "not valid JSON"),
        (
            lambda d, p: p.write_text(json.dumps({"images": d["images"]})),
            "missing the 'annotations'",
        ),
        (
            lambda d, p: p.write_text(json.dumps({**d, "images": d["images"] + d["images"][:2]})),
            "2 duplicate image id(s)",
        ),
        (
            lambda d, p: p.write_text(
                json.dumps(
                    {
                        **d,
                        "annotations": d["annotations"]
                        + [{**d["annotations"][0], "id": 999, "image_id": 12345}],
                    }
                )
            ),
            "1 annotation(s) point at missing images (image ids 12345; annotation ids 999)",
        ),
        (
            lambda d, p: p.write_text(
                json.dumps(
                    {
                        **d,
                        "annotations": d["annotations"]
                        + [{**d["annotations"][0], "id": 998, "category_id": 77}],
                    }
                )
            ),
            "unknown category ids 77",
        ),
    ],
)
def test_malformed_files(runner, shapes, tmp_path: Path, mutate, message) -> None:
    path = _copy_shapes(shapes, tmp_path)
    mutate(json.loads(path.read_text()), path)
    result = runner.invoke(app, ["data", "check", str(path)])
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output


def test_missing_and_corrupt_images(runner, shapes, tmp_path: Path) -> None:
    path = _copy_shapes(shapes, tmp_path)
    data = json.loads(path.read_text())
    (path.parent / data["images"][0]["file_name"]).unlink()
    (path.parent / data["images"][1]["file_name"]).unlink()
    (path.parent / data["images"][2]["file_name"]).write_bytes(b"garbage")
    result = runner.invoke(app, ["data", "check", str(path), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert any(
        p.startswith(f"{path}: 2 of 48 image file(s) not found") and "image ids 1, 2)" in p
        for p in report["problems"]
    )
    assert any(p.startswith("1 image file(s) do not decode") for p in report["problems"])


def test_bad_map_is_reported(runner, shapes, tmp_path: Path) -> None:
    bad = tmp_path / "map.json"
    bad.write_text(json.dumps({"3": 0, "99": 1}))
    result = runner.invoke(app, ["data", "check", str(shapes["train"]), "--category-map", str(bad)])
    assert result.exit_code == 1
    assert "category id 99 is not in" in result.output


def test_multilabel_warning(runner, tmp_path: Path, coco_factory) -> None:
    pixels = np.zeros((8, 8, 3), np.uint8)
    path = coco_factory(
        tmp_path,
        [{"id": 1, "file_name": "a.png", "pixels": pixels}],
        [{"id": 1, "image_id": 1, "category_id": 1}, {"id": 2, "image_id": 1, "category_id": 2}],
        [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    )
    # With softmax and the default drop, the only image is dropped: nothing trains (issue 20).
    dropped = runner.invoke(app, ["data", "check", str(path), "--json"])
    assert (
        dropped.exit_code == 1 and "--multilabel share" in json.loads(dropped.stdout)["problems"][0]
    )
    result = runner.invoke(app, ["data", "check", str(path), "--multilabel", "share", "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["stats"]["multilabel"] == 1
    assert "several distinct labels" in report["warnings"][0]


def test_deeply_nested_json_is_one_line(runner, tmp_path: Path) -> None:
    # Trust #15: '[' * 100000 gave a RecursionError traceback.
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    result = runner.invoke(app, ["data", "check", str(deep)])
    assert result.exit_code == 1, result.output
    assert "deep.json: JSON nested too deeply to read" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("images", "annotations", "message"),
    [
        ([], [], "the file lists no images"),
        ([{"id": 1, "file_name": "a.png"}], [], "none of its 1 image(s) carries a label"),
    ],
)
def test_no_images_or_no_labels_is_not_usable(
    runner, tmp_path: Path, coco_factory, images, annotations, message
) -> None:
    # Trust #17: both said `usable` with exit 0.
    path = coco_factory(tmp_path, images, annotations, [{"id": 1, "name": "a"}])
    result = runner.invoke(app, ["data", "check", str(path), "--no-decode"])
    assert result.exit_code == 1, result.output
    assert message in result.output and "not usable as it trains" in result.output
    assert "usable" not in result.output.replace("not usable", "")


def test_missing_and_undecodable_images_are_named_by_file(runner, shapes, tmp_path: Path) -> None:
    # Trust #18: only image ids were given, with no count of the rest.
    path = _copy_shapes(shapes, tmp_path)
    data = json.loads(path.read_text())
    names = [image["file_name"] for image in data["images"]]
    for name in names[:7]:
        (path.parent / name).unlink()
    (path.parent / names[7]).write_bytes(b"garbage")
    result = runner.invoke(app, ["data", "check", str(path), "--json"])
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert problems[0].startswith(f"{path}: 7 of {len(names)} image file(s) not found; tried: ")
    assert (
        f"missing: {', '.join(names[:5])} ... and 2 more (image ids 1, 2, 3, 4, 5 ... and 2 more)"
        in problems[0]
    )
    assert problems[1].startswith(f"1 image file(s) do not decode: {names[7]} (image ids 8)")
    assert "first: cannot decode the image" in problems[1]


def test_decompression_bomb_is_an_image_problem(runner, tmp_path: Path, coco_factory) -> None:
    # Trust #14: Pillow's DecompressionBombError came out as a traceback.
    from tests.conftest import write_bomb_jpeg

    path = coco_factory(
        tmp_path,
        [{"id": 1, "file_name": "bomb.jpg"}],
        [{"id": 1, "image_id": 1, "category_id": 1}],
        [{"id": 1, "name": "a"}],
    )
    write_bomb_jpeg(tmp_path / "bomb.jpg")
    result = runner.invoke(app, ["data", "check", str(path)])
    assert result.exit_code == 1, result.output
    assert "1 image file(s) too large: bomb.jpg (image ids 1); first: image is 4225000000" in (
        result.output
    )
    assert "ABYSSEXP_MAX_IMAGE_PIXELS" in result.output and "Traceback" not in result.output
