"""``test``'s overlap check counts near-duplicates of training and validation images (a caveat
that travels with the number) and reuses the scratch root's cached hashes: a second test of the
same files reads and decodes nothing (issue 30 item 2, issue 33 item 4)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PIL import Image

from abyssexp.cli import app
from abyssexp.datasets.hash_cache import open_hash_cache
from abyssexp.datasets.synthetic import write_shapes_dataset
from abyssexp.evaluation.overlap import find_overlap
from abyssexp.experiment.caveats import BLOCKING_CAVEATS, result_caveats
from abyssexp.schemas.resolve import load_params_file, validate_params


def test_near_duplicates_counted_and_hashes_reused(runner, scratch: Path, tmp_path) -> None:
    # 64-pixel shapes: the size the hash rule was measured at (32-pixel ones are noisier)
    shapes = write_shapes_dataset(tmp_path / "shapes", {"train": 48, "val": 24, "test": 24}, seed=1)
    made = runner.invoke(
        app,
        ["new", "proj", "cls", "ds", "--train", str(shapes["train"]), "--val", str(shapes["val"])]
        + ["--set", "dataset.map_by=supercategory"],
    )
    assert made.exit_code == 0, made.output
    root = Path(made.stdout.strip().splitlines()[-1])
    params = validate_params(load_params_file(root / "models" / "params.json"), "params")
    train = json.loads(shapes["train"].read_text())["images"]
    test = json.loads(shapes["test"].read_text())
    folder = tmp_path / "export"
    folder.mkdir()
    for image in test["images"]:
        shutil.copy(
            shapes["test"].parent / image["file_name"], folder / Path(image["file_name"]).name
        )
        image["file_name"] = Path(image["file_name"]).name
    # one test image is a training image saved again (JPEG quality 70), one is a plain copy
    with Image.open(shapes["train"].parent / train[0]["file_name"]) as picture:
        picture.save(folder / test["images"][0]["file_name"], quality=70)
    shutil.copy(
        shapes["train"].parent / train[1]["file_name"], folder / test["images"][1]["file_name"]
    )
    coco = folder / "coco.test.json"
    coco.write_text(json.dumps(test))

    hashes = open_hash_cache(scratch)
    detail = find_overlap(params, root, coco, folder, hashes=hashes)
    hashes.save()
    assert detail["images"] == 1 and detail["same_content"] == 1
    assert detail["near"] == 1, detail["near_examples"]
    assert detail["near_examples"][0].startswith(test["images"][0]["file_name"])
    again = open_hash_cache(scratch)
    assert find_overlap(params, root, coco, folder, hashes=again) == detail
    assert again.decoded == 0 and again.read == 0
    skipped = find_overlap(params, root, coco, folder, near=False, hashes=again)
    assert skipped["near"] is None and skipped["images"] == 1

    codes = result_caveats({"images": 24, "overlap": 1, "overlap_detail": detail})
    near = next(c for c in codes if c["code"] == "near_duplicates")
    assert "1 of 24 test image(s) are near-duplicates" in near["message"]
    assert "--group-by near" in near["message"] and "near_duplicates" not in BLOCKING_CAVEATS
