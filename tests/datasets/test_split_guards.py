"""``data split`` keeps what belongs together and says what it could not do (issue 20):
near-duplicates grouped, shares honoured under grouping or the miss reported, images found with
``--image-dir`` and never written as paths to files that do not exist."""

import json
import shutil
from pathlib import Path

import numpy as np

from abyssexp.cli import app
from tests.datasets.fixtures_exports import write_burst_export, write_label_studio_export


def _split(runner, path: Path, *args: str):
    return runner.invoke(
        app, ["data", "split", str(path), "--val", "0.2", "--test", "0.2", "--seed", "1", *args]
    )


def _outputs(folder: Path) -> dict[str, dict]:
    return {
        s: json.loads((folder / f"coco.{s}.json").read_text()) for s in ("train", "val", "test")
    }


def test_group_by_near_keeps_burst_shots_together(runner, tmp_path) -> None:
    path = write_burst_export(tmp_path / "burst", scenes=20)
    plain = _split(runner, path)
    assert plain.exit_code == 0, plain.output
    files = [str(tmp_path / "burst" / f"coco.{s}.json") for s in ("train", "val", "test")]
    leaks = runner.invoke(app, ["data", "leaks", *files, "--near", "--json"])
    assert json.loads(leaks.stdout)["counts"]["near duplicate"] > 0  # what a plain split does
    grouped = _split(runner, path, "--group-by", "near", "--force")
    assert grouped.exit_code == 0, grouped.output
    scene_splits = {}
    for split, data in _outputs(tmp_path / "burst").items():
        for image in data["images"]:
            scene = image["file_name"].split("-")[0]
            assert scene_splits.setdefault(scene, split) == split, scene
    assert len(scene_splits) == 20
    leaks = runner.invoke(app, ["data", "leaks", *files, "--near"])
    assert leaks.exit_code == 0, leaks.output


def test_shares_are_honoured_under_grouping(runner, tmp_path) -> None:
    # Before: many small label-set buckets all rounded the same way (0.66/0.23/0.11).
    import random

    path = write_label_studio_export(tmp_path / "ls", 120, names=tuple("abcdefgh"))
    data = json.loads(path.read_text())
    rng = random.Random(0)
    data["annotations"], index = [], 0
    for group in range(60):
        labels = rng.sample(range(8), rng.choice([1, 2]))
        for _ in range(rng.choice([1, 2, 3])):
            if index == len(data["images"]):
                break
            data["images"][index]["site"] = group
            for label in labels:
                annotation = {"id": len(data["annotations"]), "image_id": index}
                data["annotations"].append({**annotation, "category_id": label})
            index += 1
    data["images"] = data["images"][:index]
    path.write_text(json.dumps(data))
    result = _split(runner, path, "--group-by", "site", "--json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["counts"]
    total = sum(counts.values())
    for split, wanted in (("train", 0.6), ("val", 0.2), ("test", 0.2)):
        assert abs(counts[split] / total - wanted) <= 0.05, counts
    assert json.loads(result.stdout)["warnings"] == []


def test_a_share_missed_under_grouping_is_said_with_the_reason(runner, tmp_path) -> None:
    path = write_label_studio_export(tmp_path / "ls", 40)
    data = json.loads(path.read_text())
    for image in data["images"]:  # one site holds 28 of 40 images (70 %): train gets >= 70 %
        image["site"] = "big" if image["id"] < 28 else f"s{image['id']}"
    path.write_text(json.dumps(data))
    result = _split(runner, path, "--group-by", "site")
    assert result.exit_code == 0, result.output
    assert "missed by" in result.output and "tolerance 5" in result.output
    assert "train: 28 image(s), 70% of 40, asked 60% (missed by 10 points" in result.output
    assert "the largest (field:big) holds 28 image(s), 70% of all" in result.output


def test_images_elsewhere_need_image_dir_and_missing_files_are_refused(runner, tmp_path) -> None:
    # Before: exit 0 with paths to files that do not exist, and no --image-dir.
    path = write_label_studio_export(tmp_path / "ls", 12)
    pictures = tmp_path / "elsewhere" / "pictures"
    shutil.move(tmp_path / "ls" / "images", pictures)
    refused = _split(runner, path)
    assert refused.exit_code == 2, refused.output
    assert "12 of 12 image file(s) not found" in refused.output
    assert "--image-dir" in refused.output and not (tmp_path / "ls" / "coco.train.json").exists()
    found = _split(runner, path, "--image-dir", str(pictures))
    assert found.exit_code == 0, found.output
    for data in _outputs(tmp_path / "ls").values():
        assert all(Path(image["path"]).is_file() for image in data["images"])
    script = (tmp_path / "ls" / "make-datasets.sh").read_text()
    assert f"--image-dir {pictures}" in script
    (pictures / next(pictures.iterdir()).name).unlink()
    one_gone = _split(runner, path, "--image-dir", str(pictures), "--force")
    assert one_gone.exit_code == 2 and "1 of 12 image file(s) not found" in one_gone.output


def _fertile_export(tmp_path: Path) -> Path:
    """20 eggs, each shot as ``fertile_<id>.jpg`` and ``in_fertile_<id>.jpg``, and 4 others."""
    from tests.conftest import make_coco

    rng = np.random.default_rng(0)
    names = [f"{p}fertile_{100000000 + i:09d}.jpg" for i in range(20) for p in ("", "in_")]
    names += [f"other_{i}.jpg" for i in range(4)]
    images = [
        {"id": i + 1, "file_name": n, "pixels": rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)}
        for i, n in enumerate(names)
    ]
    annotations = [{"id": i + 1, "image_id": i + 1, "category_id": 1 + i % 2} for i in range(44)]
    categories = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    return make_coco(tmp_path / "eggs", images, annotations, categories)


def test_group_by_optional_group_is_refused_with_the_fix(runner, tmp_path) -> None:
    # Issue 30: '^(in_)?fertile_(\d{9})' lumped 20 images into the group 're:None' silently.
    path = _fertile_export(tmp_path)
    result = _split(runner, path, "--group-by", r"^(in_)?fertile_(\d{9})")
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.split())
    assert "takes no part in the match of 20 image(s)" in flat, result.output
    assert r"--group-by '^(?:in_)?fertile_(\d{9})'" in flat
    assert not (tmp_path / "eggs" / "coco.train.json").exists()


def test_group_by_says_how_many_images_did_not_match(runner, tmp_path) -> None:
    path = _fertile_export(tmp_path)
    result = _split(runner, path, "--group-by", r"^(?:in_)?fertile_(\d{9})", "--json")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "4 of 44 image(s) did not match (other_0.jpg, other_1.jpg, other_2.jpg" in flat
    splits = _outputs(tmp_path / "eggs")
    where = {i["file_name"]: s for s, data in splits.items() for i in data["images"]}
    for egg in range(20):
        name = f"fertile_{100000000 + egg:09d}.jpg"
        assert where[name] == where[f"in_{name}"]  # one egg, one split


def test_group_by_empty_or_one_group_is_refused(runner, tmp_path) -> None:
    # Issue 31 case 16: --group-by "" wrote 60/0/0.
    path = _fertile_export(tmp_path)
    for pattern, message in (("", "empty"), ("jpg", "all 44 images fall in one group")):
        result = _split(runner, path, "--group-by", pattern)
        assert result.exit_code == 2, result.output
        assert message in result.output
    assert not (tmp_path / "eggs" / "coco.train.json").exists()
