"""``sweep new``: one ordinary experiment per trial, made all or nothing; the sweep file; folds;
``list --sweep`` and ``compare --sweep``; no TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from abyssexp.cli import app
from abyssexp.datasets.folds import assign_folds
from abyssexp.sweeps.trials import Distribution, name_part, parse_grid, plan_trials
from tests.training.helpers import new_tiny, record


def _sweep(runner, *args: str):
    result = runner.invoke(app, ["sweep", "new", "proj", "grid", "tiny", *args])
    return result


def test_grid_and_seeds_make_one_experiment_per_trial(runner, scratch: Path, shapes) -> None:
    base = new_tiny(runner, shapes, "--set", "training.seed=7")
    result = _sweep(
        runner, "--from", str(base), "--grid", "training.lr=1e-3,5e-4,2.5e-4", "--seeds", "2"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "proj/grid/s001"
    sweep = json.loads((scratch / "proj" / "grid" / ".sweeps" / "s001.json").read_text())
    assert sweep["grid"] == {"training.lr": [1e-3, 5e-4, 2.5e-4]}
    assert sweep["seeds"] == 2 and sweep["command_line"][0] == "abyssexp"
    names = [t["name"] for t in sweep["trials"]]
    assert names == [
        "001.tiny.lr1e-3.seed7",
        "002.tiny.lr1e-3.seed8",
        "003.tiny.lr5e-4.seed7",
        "004.tiny.lr5e-4.seed8",
        "005.tiny.lr2p5e-4.seed7",
        "006.tiny.lr2p5e-4.seed8",
    ]
    for trial in sweep["trials"]:
        root = scratch / "proj" / "grid" / trial["name"]
        params = json.loads((root / "models" / "params.json").read_text())
        assert params["training"]["lr"] == trial["values"]["training.lr"]
        assert params["training"]["seed"] == trial["seed"]
        assert (root / "readme.txt").is_file() and (root / "datasets" / "coco.train.json").is_file()
        assert record(root)["sweep"] == "proj/grid/s001"
        assert record(root)["status"] == "new"
        assert record(root)["parent"].endswith(base.name)


def test_a_trial_that_fails_leaves_no_trial_and_no_sweep(runner, scratch: Path, shapes) -> None:
    base = new_tiny(runner, shapes)
    # The third value is refused only when its trial is built, after two trials were staged.
    result = _sweep(runner, "--from", str(base), "--grid", "training.batch_size=8,16,0")
    assert result.exit_code == 2, result.output
    assert "batch_size" in result.output and "Traceback" not in result.output
    grid = scratch / "proj" / "grid"
    assert [p.name for p in grid.iterdir() if not p.name.startswith(".")] == []
    assert not list((grid / ".sweeps").glob("*.json"))
    assert not list((grid / ".claims").glob("*"))  # numbers released: nothing was ever visible
    again = _sweep(runner, "--from", str(base), "--grid", "training.batch_size=8,16")
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in grid.iterdir() if not p.name.startswith(".")) == [
        "001.tiny.batch_size8",
        "002.tiny.batch_size16",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "training.lr"], "expected KEY=..."),
        (["--grid", "training.lrr=1,2"], "training.lrr"),
        (["--random", "training.lr=gauss(1,2)", "--trials", "2"], "loguniform"),
        (["--random", "training.lr=loguniform(0,1)", "--trials", "2"], "LOW > 0"),
        (["--random", "training.lr=uniform(1e-4,1e-2)"], "--trials"),
        ([], "nothing to sweep"),
        (["--folds", "1"], "K >= 2"),
        (["--grid", "training.seed=" + ",".join(map(str, range(1001)))], "more than 1000"),
    ],
)
def test_bad_sweeps_exit_2_with_one_line(runner, scratch, shapes, args, message) -> None:
    base = new_tiny(runner, shapes)
    result = _sweep(runner, "--from", str(base), *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (scratch / "proj" / "grid").exists() or not [
        p for p in (scratch / "proj" / "grid").iterdir() if not p.name.startswith(".")
    ]


def test_folds_are_stratified_disjoint_and_reproducible(runner, scratch: Path, shapes) -> None:
    base = new_tiny(runner, shapes)
    result = _sweep(runner, "--from", str(base), "--folds", "3", "--random-seed", "5")
    assert result.exit_code == 0, result.output
    source = json.loads((base / "datasets" / "coco.train.json").read_text())
    all_ids = sorted(image["id"] for image in source["images"])
    held: list[int] = []
    for fold in range(3):
        root = next((scratch / "proj" / "grid").glob(f"*.tiny.fold{fold}"))
        val = json.loads((root / "datasets" / "coco.val.json").read_text())
        train = json.loads((root / "datasets" / "coco.train.json").read_text())
        val_ids = {image["id"] for image in val["images"]}
        train_ids = {image["id"] for image in train["images"]}
        assert not val_ids & train_ids and sorted(val_ids | train_ids) == all_ids
        assert {a["image_id"] for a in val["annotations"]} <= val_ids
        held += sorted(val_ids)
        params = json.loads((root / "models" / "params.json").read_text())
        assert params["dataset"]["image_dir"] == {"train": str(shapes["train"].parent)} | {
            "val": str(shapes["train"].parent)
        }
        # make-datasets.sh records the split; running it gives the same files again.
        script = (root / "datasets" / "make-datasets.sh").read_text()
        assert f"--folds 3 --fold {fold} --seed 5" in script
        redo = runner.invoke(
            app,
            ["sweep", "fold", str(base / "datasets" / "coco.train.json"), "--folds", "3",
             "--fold", str(fold), "--seed", "5", "--train-out", str(scratch / "t.json"),
             "--val-out", str(scratch / "v.json")],
        )  # fmt: skip
        assert redo.exit_code == 0, redo.output
        assert json.loads((scratch / "v.json").read_text()) == val
    assert sorted(held) == all_ids  # every image is held out exactly once
    sizes = [held.count(i) for i in all_ids]
    assert set(sizes) == {1}


def test_fold_assignment_keeps_class_proportions() -> None:
    images = [{"id": i, "file_name": f"{i}.jpg"} for i in range(60)]
    # 45 images of class 1, 15 of class 2 (the rare one decides the stratum).
    annotations = [{"image_id": i, "category_id": 1 if i < 45 else 2} for i in range(60)]
    folds = assign_folds({"images": images, "annotations": annotations}, 3, seed=0)
    for fold in range(3):
        members = [i for i, k in folds.items() if k == fold]
        assert len(members) == 20
        assert sum(1 for i in members if i >= 45) == 5  # 15 rare images, 5 per fold


def test_images_of_one_content_stay_in_one_fold() -> None:
    images = [{"id": i, "file_name": f"{i}.jpg"} for i in range(60)]
    annotations = [{"image_id": i, "category_id": 1 if i < 45 else 2} for i in range(60)]
    coco = {"images": images, "annotations": annotations}
    # A file without duplicates keeps the folds it had before units existed.
    assert assign_folds(coco, 3, 0, {i: f"own{i}" for i in range(60)}) == assign_folds(coco, 3, 0)
    twins = {i: f"content{i % 20}" for i in range(60)}  # 20 contents, 3 names each
    folds = assign_folds(coco, 3, 0, twins)
    for content in set(twins.values()):
        assert len({folds[i] for i, c in twins.items() if c == content}) == 1


def test_groups_of_many_images_are_dealt_to_even_out_the_folds() -> None:
    """Bursts kept whole were dealt in turn like single images: a real export's folds held out
    64 to 619 images. Each unit, largest first, now goes to the emptiest fold."""
    images = [{"id": i, "file_name": f"{i}.jpg"} for i in range(1000)]
    annotations = [{"image_id": i, "category_id": 1 + i % 2} for i in range(1000)]
    coco = {"images": images, "annotations": annotations}
    # Two bursts of 150 images each (one per class), 20 of 10 and 500 single images.
    groups = {i: "a" for i in range(0, 300, 2)} | {i: "b" for i in range(1, 300, 2)}
    groups |= {i: f"s{(i - 300) // 10}" for i in range(300, 500)}
    folds = assign_folds(coco, 5, seed=0, groups=groups)
    sizes = sorted(list(folds.values()).count(f) for f in range(5))
    # Dealt in turn: 131 to 456 images. Now no fold is a whole burst larger than another.
    assert sizes[-1] - sizes[0] <= 150, sizes
    for group in set(groups.values()):
        assert len({folds[i] for i, g in groups.items() if g == group}) == 1


def _with_twins(shapes, folder: Path, reencode: bool) -> Path:
    """The shapes training file and 12 more images: copies of its first 12 under other names,
    the same bytes (an export's duplicates) or saved again at JPEG quality 70 (``reencode``)."""
    import shutil

    from PIL import Image

    data = json.loads(shapes["train"].read_text())
    source = shapes["train"].parent
    extra_images, extra_annotations = [], []
    for image in data["images"]:
        (folder / image["file_name"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / image["file_name"], folder / image["file_name"])
    for index, image in enumerate(data["images"][:12]):
        twin = str(Path(image["file_name"]).parent / f"twin_{index}_jpg.rf.{index:032x}.jpg")
        if reencode:
            with Image.open(source / image["file_name"]) as picture:
                picture.save(folder / twin, quality=70)
        else:
            shutil.copyfile(source / image["file_name"], folder / twin)
        extra_images.append({**image, "id": 10_000 + index, "file_name": twin})
        extra_annotations += [
            {**a, "id": 10_000 + a["id"], "image_id": 10_000 + index}
            for a in data["annotations"]
            if a["image_id"] == image["id"]
        ]
    data["images"] += extra_images
    data["annotations"] += extra_annotations
    (folder / "coco.json").write_text(json.dumps(data))
    return folder / "coco.json"


def _twins_share_their_folds(scratch: Path, train_file: Path) -> None:
    data = json.loads(train_file.read_text())
    roots = sorted((scratch / "proj" / "grid").glob("*.tiny.fold*"))
    assert len(roots) == 3
    for root in roots:
        val = json.loads((root / "datasets" / "coco.val.json").read_text())
        val_ids = {image["id"] for image in val["images"]}
        for index, image in enumerate(data["images"][:12]):
            pair = {image["id"], 10_000 + index}
            assert pair <= val_ids or not pair & val_ids, (root.name, pair)


def test_a_fold_sweep_keeps_exported_duplicates_together(
    runner, scratch: Path, shapes, tmp_path: Path
) -> None:
    # A real Roboflow export holds the same bytes under two names; folds dealt image by image
    # put them in a fold's training and validation files, and `new` refused the trial.
    train_file = _with_twins(shapes, tmp_path, reencode=False)
    base = new_tiny(runner, {**shapes, "train": train_file}, "--allow-leaks")
    result = _sweep(runner, "--from", str(base), "--folds", "3")
    assert result.exit_code == 0, result.output
    _twins_share_their_folds(scratch, train_file)


def test_group_by_near_keeps_reencoded_copies_in_one_fold(
    runner, scratch: Path, shapes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bursts and re-encodings are not refused by `new`, but a fold that validates on the twin of
    # a training image predicts from memory (a real export's folds scored 1.000 out of fold).
    train_file = _with_twins(shapes, tmp_path, reencode=True)
    base = new_tiny(runner, {**shapes, "train": train_file})
    refused = _sweep(
        runner, "--from", str(base), "--grid", "training.lr=1e-3,5e-4", "--group-by", "near"
    )
    assert refused.exit_code == 2 and "add --folds K" in refused.output
    from abyssexp.datasets import folds

    made = []  # the units are made once for the sweep, not once per fold
    real_fold_groups = folds.fold_groups
    monkeypatch.setattr(
        folds, "fold_groups", lambda *a, **k: made.append(1) or real_fold_groups(*a, **k)
    )
    result = _sweep(runner, "--from", str(base), "--folds", "3", "--group-by", "near")
    assert result.exit_code == 0, result.output
    assert len(made) == 1
    _twins_share_their_folds(scratch, train_file)
    script = next((scratch / "proj" / "grid").glob("*.fold0")) / "datasets" / "make-datasets.sh"
    assert "--group-by near" in script.read_text()


def test_random_draws_are_in_range_and_reproducible() -> None:
    space = {"training.lr": Distribution("loguniform", (1e-4, 1e-2), "loguniform(1e-4,1e-2)")}
    first = plan_trials({"model.dropout": [0.1, 0.2]}, space, 4, 0, 0, base_seed=0, random_seed=3)
    again = plan_trials({"model.dropout": [0.1, 0.2]}, space, 4, 0, 0, base_seed=0, random_seed=3)
    assert first == again and len(first) == 8
    assert all(1e-4 <= t.values["training.lr"] <= 1e-2 for t in first)
    assert len({t.values["training.lr"] for t in first}) == 8


def test_grid_values_and_name_parts() -> None:
    grid = parse_grid(["model.input_shape=[32,32,3],[64,64,3]", "model.backbone=mobilenet,'a,b'"])
    assert grid == {
        "model.input_shape": [[32, 32, 3], [64, 64, 3]],
        "model.backbone": ["mobilenet", "a,b"],
    }
    assert name_part("training.lr", 0.0005) == "lr5e-4"
    assert name_part("model.input_shape", [32, 32, 3]) == "input_shape32x32x3"
    assert name_part("model.backbone", "efficientnet_b0") == "backbone-efficientnet_b0"
    assert name_part("training.mixed_precision", True) == "mixed_precisiontrue"


@pytest.mark.slow
def test_a_sweep_of_100_trials_makes_100_experiments(runner, scratch: Path, shapes) -> None:
    # How fast is benchmarks/bench_sweeps.py's to say (docs/performance.md), not a timed test:
    # in CI this thread once spent 24 s of CPU, most of it in the kernel syncing 1,400 files
    # while trainings wrote beside it, for ~1 s of work on an idle host.
    base = new_tiny(runner, shapes)
    result = _sweep(runner, "--from", str(base), "--grid", "training.lr=" + ",".join(
        f"{i}e-4" for i in range(1, 26)), "--seeds", "4")  # fmt: skip
    assert result.exit_code == 0, result.output
    trials = json.loads((scratch / "proj/grid/.sweeps/s001.json").read_text())["trials"]
    assert len(trials) == 100
    made = sorted(p.name for p in (scratch / "proj/grid").iterdir() if not p.name.startswith("."))
    assert len(made) == 100 and made[0].startswith("001.") and made[-1].startswith("100.")


def test_list_and_compare_show_the_sweep_together(runner, scratch: Path, shapes) -> None:
    base = new_tiny(runner, shapes)
    other = new_tiny(runner, shapes, name="other")
    assert _sweep(runner, "--from", str(base), "--grid", "training.lr=1e-3,5e-4").exit_code == 0
    listed = runner.invoke(app, ["list", "--sweep", "s001", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [row["name"] for row in rows] == ["001.tiny.lr1e-3", "002.tiny.lr5e-4"]
    assert all(row["sweep"] == "proj/grid/s001" for row in rows)
    table = runner.invoke(app, ["list", "--sweep", "proj/grid/s001"])
    assert "training.lr" in table.stdout and other.name not in table.stdout
    compared = runner.invoke(app, ["compare", "--sweep", "s001", "--json"])
    assert compared.exit_code == 0, compared.output
    assert json.loads(compared.stdout)["params"]["training.lr"] == [0.001, 0.0005]
    sweeps = runner.invoke(app, ["sweep", "list", "--json"])
    assert [s["sweep"] for s in json.loads(sweeps.stdout)] == ["proj/grid/s001"]
    missing = runner.invoke(app, ["list", "--sweep", "s009"])
    assert missing.exit_code == 1 and "not found" in missing.output


NO_TF = """
import sys
from abyssexp.cli.app import app
try:
    app(sys.argv[1:])
except SystemExit as exit:
    assert not exit.code, exit.code
assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "TensorFlow imported"
"""


def test_sweep_list_compare_and_cancel_never_import_tensorflow(runner, scratch, shapes) -> None:
    base = new_tiny(runner, shapes)
    env = {**os.environ, "ABYSSEXP_SCRATCH": str(scratch)}
    for args in (
        ["sweep", "new", "proj", "grid", "tiny", "--from", str(base), "--grid", "training.lr=1,2"],
        ["list", "--sweep", "s001"],
        ["compare", "--sweep", "s001"],
        ["sweep", "list"],
        ["cancel", "s001"],
    ):
        done = subprocess.run(
            [sys.executable, "-c", NO_TF, *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, (args, done.stderr[-2000:])
