"""``abyssexp data stats | split | merge | leaks | from-folders`` on small real files."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from abyssexp.cli import app
from tests.datasets.fixtures_exports import (
    write_cvat_export,
    write_image,
    write_label_studio_export,
)


def test_stats_side_by_side(runner, tmp_path) -> None:
    files = write_cvat_export(tmp_path / "x", {"train": 6, "val": 2})
    result = runner.invoke(app, ["data", "stats", str(files["train"]), str(files["val"]), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    train, val = str(files["train"]), str(files["val"])
    assert stats["classes"]["cat"][train] == {"images": 3, "annotations": 3}
    assert stats["classes"]["dog"][val] == {"images": 1, "annotations": 1}
    table = runner.invoke(app, ["data", "stats", train, val])
    assert "instances_train.json" in table.stdout and "3 (3)" in table.stdout


def test_split_is_stratified_seeded_grouped_and_recorded(runner, tmp_path) -> None:
    path = write_label_studio_export(tmp_path / "ls", 40)
    data = json.loads(path.read_text())
    for image in data["images"]:  # groups of 4 consecutive photos: photo<N> → group N // 4
        image["site"] = image["id"] // 4
    path.write_text(json.dumps(data))
    args = ["data", "split", str(path), "--val", "0.2", "--test", "0.2", "--seed", "3"]
    first = runner.invoke(app, [*args, "--group-by", "site", "--json"])
    assert first.exit_code == 0, first.output
    out = tmp_path / "ls"
    splits = {s: json.loads((out / f"coco.{s}.json").read_text()) for s in ("train", "val", "test")}
    sites = {s: {i["site"] for i in d["images"]} for s, d in splits.items()}
    assert not (
        sites["train"] & sites["val"]
        or sites["train"] & sites["test"]
        or sites["val"] & sites["test"]
    )
    assert sum(len(d["images"]) for d in splits.values()) == 40
    for d in splits.values():  # both classes in every split
        assert {a["category_id"] for a in d["annotations"]} == {0, 1}
    again = runner.invoke(app, [*args, "--group-by", "site"])
    assert again.exit_code == 2 and "already exists; pass --force" in again.output
    forced = runner.invoke(app, [*args, "--group-by", "site", "--force"])
    assert forced.exit_code == 0
    assert json.loads((out / "coco.val.json").read_text()) == splits["val"]  # same seed, same split
    script = (out / "make-datasets.sh").read_text()
    assert script.count("abyssexp data split") == 2 and "--group-by site" in script


def test_split_group_by_regex(runner, tmp_path) -> None:
    path = write_label_studio_export(tmp_path / "ls", 24)
    result = runner.invoke(
        app, ["data", "split", str(path), "--val", "0.3", "--test", "0", "--group-by", r"photo(\d)"]
    )
    assert result.exit_code == 0, result.output
    names = {
        s: {
            i["file_name"].split("photo")[1][0]
            for i in json.loads((tmp_path / "ls" / f"coco.{s}.json").read_text())["images"]
        }
        for s in ("train", "val")
    }
    assert not names["train"] & names["val"]


def test_merge_renumbers_unifies_and_refuses_conflicts(runner, tmp_path) -> None:
    a = write_cvat_export(tmp_path / "a", {"default": 3})["default"]
    b = write_cvat_export(tmp_path / "b", {"default": 2}, names=("dog", "cat"))["default"]
    out = tmp_path / "merged" / "coco.json"
    result = runner.invoke(app, ["data", "merge", str(a), str(b), "--out", str(out)])
    assert result.exit_code == 0, result.output
    merged = json.loads(out.read_text())
    assert [i["id"] for i in merged["images"]] == [1, 2, 3, 4, 5]
    assert [c["name"] for c in merged["categories"]] == ["cat", "dog"]
    names = {c["id"]: c["name"] for c in merged["categories"]}
    # b's first image is a "dog" (its category 1) and stays a dog after renumbering
    assert names[merged["annotations"][3]["category_id"]] == "dog"
    check = runner.invoke(app, ["data", "check", str(out)])
    assert check.exit_code == 0, check.output  # the images are found through their paths
    assert "abyssexp data merge" in (out.parent / "make-datasets.sh").read_text()
    data = json.loads(b.read_text())
    data["categories"][0]["supercategory"] = "pets"
    b.write_text(json.dumps(data))
    conflict = runner.invoke(
        app, ["data", "merge", str(a), str(b), "--out", str(tmp_path / "m2.json")]
    )
    assert conflict.exit_code == 1 and "category 'dog' has supercategory 'pets'" in conflict.output


def test_leaks_same_file_content_and_near_duplicates(runner, tmp_path) -> None:
    files = write_cvat_export(tmp_path / "x", {"train": 4, "val": 4})
    clean = runner.invoke(app, ["data", "leaks", str(files["train"]), str(files["val"]), "--json"])
    # CVAT numbers frames per subset, so file names repeat across splits
    assert json.loads(clean.stdout)["counts"]["same file_name"] == 4
    val = json.loads(files["val"].read_text())
    for index, image in enumerate(val["images"]):
        image["file_name"] = f"v{index}.jpg"
        shutil.move(
            tmp_path / "x" / "images" / "val" / f"frame_{index:06d}.jpg",
            tmp_path / "x" / "images" / "val" / f"v{index}.jpg",
        )
    files["val"].write_text(json.dumps(val))
    shutil.copy(tmp_path / "x/images/train/frame_000000.jpg", tmp_path / "x/images/val/v0.jpg")
    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 255, 64, dtype=np.float32)
    scene = np.stack(
        [
            np.add.outer(ramp, ramp) / 2,
            np.add.outer(ramp[::-1], ramp) / 2,
            ramp[None].repeat(64, 0),
        ],
        -1,
    )
    Image.fromarray(scene.astype(np.uint8)).save(tmp_path / "x/images/train/frame_000001.jpg")
    brighter = np.clip(scene * 1.05 + 3, 0, 255).astype(np.uint8)  # re-exported, a little brighter
    Image.fromarray(brighter).save(tmp_path / "x/images/val/v1.jpg", quality=60)
    result = runner.invoke(
        app, ["data", "leaks", str(files["train"]), str(files["val"]), "--near", "--json"]
    )
    assert result.exit_code == 1
    counts = json.loads(result.stdout)["counts"]
    assert counts == {"same file_name": 0, "same content": 1, "near duplicate": 1}


def test_from_folders(runner, tmp_path) -> None:
    for cls, n in (("ok", 3), ("crack", 2)):
        for i in range(n):
            write_image(tmp_path / "tree" / cls / f"{i}.jpg", 0 if cls == "ok" else 1, i)
    out = tmp_path / "tree" / "coco.json"
    result = runner.invoke(app, ["data", "from-folders", str(tmp_path / "tree"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert [c["name"] for c in data["categories"]] == ["crack", "ok"]
    assert len(data["images"]) == len(data["annotations"]) == 5
    assert all(a["bbox"] == [0, 0, 0, 0] for a in data["annotations"])
    check = runner.invoke(app, ["data", "check", str(out), "--json"])
    assert json.loads(check.stdout)["stats"]["class_counts"] == {"crack": 2, "ok": 3}


def test_data_tools_do_not_import_tensorflow(tmp_path) -> None:
    files = write_cvat_export(tmp_path / "x", {"train": 4, "val": 2})
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom abyssexp.cli import app\n"
        f"train, val = {str(files['train'])!r}, {str(files['val'])!r}\n"
        "for args in (['data','check',train,'--no-decode'], ['data','stats',train,val],"
        " ['data','split',train,'--out-dir',%r], ['data','leaks',train,val],"
        " ['data','merge',train,val,'--out',%r]):\n"
        "    CliRunner().invoke(app, args)\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
    ) % (str(tmp_path / "s"), str(tmp_path / "m.json"))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_stats_columns_tell_same_named_files_apart(runner, tmp_path) -> None:
    # Issue 30: two Roboflow splits were both headed "_annotations.coco.json".
    from tests.datasets.fixtures_exports import write_roboflow_export

    files = write_roboflow_export(tmp_path / "rf", {"train": 4, "valid": 2})
    args = ["data", "stats", str(files["train"]), str(files["valid"])]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "train/_annotations.coco.json" in result.output, result.output
    assert "valid/_annotations.coco.json" in result.output
    labels = json.loads(runner.invoke(app, [*args, "--json"]).stdout)["labels"]
    assert labels == ["train/_annotations.coco.json", "valid/_annotations.coco.json"]
