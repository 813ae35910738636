"""One verdict on what trains (issue 20): ``data check``, ``new`` and ``train`` judge the class
table after the category map, the unlabelled and the multilabel policy, with the same function."""

import json
from pathlib import Path

import pytest

from abyssexp.cli import app
from abyssexp.schemas.params import DatasetParams
from tests.datasets.fixtures_exports import (
    TINY,
    write_cvat_export,
    write_detection_export,
    write_roboflow_export,
)

#: 12 images with only "fertile", 4 with "fertile" and "infertile": infertile never alone.
EGGS = {
    "train": [["fertile"]] * 12 + [["fertile", "infertile"]] * 4,
    "valid": [["fertile"]] * 6 + [["fertile", "infertile"]] * 2,
}
#: A 4-class export where every image carries "road" (and most a vehicle too).
ROADS = {"train": [["road", v] for v in ("car", "bus", "truck") * 4] + [["road"]] * 12}


@pytest.fixture
def eggs(tmp_path: Path) -> dict[str, Path]:
    return write_detection_export(tmp_path / "eggs", EGGS, ("fertile", "infertile"))


def _new(runner, *args: str):
    return runner.invoke(app, ["new", "proj", "cls", "d", *args])


def test_class_that_only_appears_with_another_is_not_usable(runner, eggs) -> None:
    # Before: `usable` with infertile 4, then trained with 0 images of it.
    train, val = str(eggs["train"]), str(eggs["valid"])
    result = runner.invoke(app, ["data", "check", train, "--val", val])
    assert result.exit_code == 1, result.output
    assert "usable" not in result.output.replace("not usable", "")
    assert (
        f"{train}: class 'infertile': 0 training images (4 in the file, each also carrying "
        "another class, and softmax drops images with several labels); --multilabel share or "
        "--sigmoid keeps them" in result.output
    )
    assert f"{val}: class 'infertile': 0 validation images (2 in the file" in result.output
    assert "only 1 class with images (fertile), 12 training image(s)" in result.output
    # "in the file" beside "trains as", because the policy changed the counts.
    assert "train in the file" in result.output and "train trains as" in result.output
    for fix in (["--multilabel", "share"], ["--sigmoid"]):
        fixed = runner.invoke(app, ["data", "check", train, "--val", val, *fix])
        assert fixed.exit_code == 0, fixed.output


def test_new_refuses_it_and_force_data_records_the_override(runner, scratch, eggs) -> None:
    files = ["--train", str(eggs["train"]), "--val", str(eggs["valid"])]
    refused = _new(runner, *files)
    assert refused.exit_code == 2, refused.output
    assert "class 'infertile': 0 training images" in refused.output
    assert "--set dataset.softmax_multilabel=share or --set model.output_activation=sigmoid" in (
        refused.output
    )
    assert "--force-data" in refused.output
    made = scratch / "proj" / "cls"
    assert not made.exists() or not [p for p in made.iterdir() if not p.name.startswith(".")]
    forced = _new(runner, *files, "--force-data")
    assert forced.exit_code == 0, forced.output
    root = Path(forced.stdout.strip().splitlines()[-1])
    record = json.loads((root / "record.json").read_text())
    (override,) = record["data_overrides"]
    assert override["flag"] == "--force-data"
    assert any("class 'infertile': 0 training images" in p for p in override["problems"])
    shown = runner.invoke(app, ["show", str(root)])
    assert shown.exit_code == 0, shown.output
    assert "data accepted with --force-data:" in shown.output
    shared = _new(runner, *files, "--set", "dataset.softmax_multilabel=share")
    assert shared.exit_code == 0, shared.output


def test_train_refuses_at_start_what_new_would_refuse(runner, scratch, eggs) -> None:
    files = ["--train", str(eggs["train"]), "--val", str(eggs["valid"])]
    made = _new(runner, *files, *TINY, "--set", "dataset.softmax_multilabel=share")
    root = Path(made.stdout.strip().splitlines()[-1])
    refused = runner.invoke(
        app, ["train", str(root), "--set", "dataset.softmax_multilabel=drop", "--quiet"]
    )
    assert refused.exit_code == 2, refused.output
    assert "class 'infertile': 0 training images" in refused.output
    assert "--force-data" in refused.output
    assert json.loads((root / "record.json").read_text())["status"] == "new"


def test_four_classes_where_every_image_carries_one_train_as_one(runner, tmp_path) -> None:
    files = write_detection_export(tmp_path / "roads", ROADS, ("road", "car", "bus", "truck"))
    result = runner.invoke(app, ["data", "check", str(files["train"]), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["stats"]["class_counts"] == {"road": 12, "car": 0, "bus": 0, "truck": 0}
    assert report["stats"]["in_file"] == {"road": 24, "car": 4, "bus": 4, "truck": 4}
    problems = report["problems"]
    for name in ("car", "bus", "truck"):
        assert any(f"class {name!r}: 0 training images (4 in the file" in p for p in problems)
    assert any("only 1 class with images (road)" in p for p in problems)


def test_detection_boxes_are_said_once_with_the_multilabel_count(runner, tmp_path) -> None:
    files = write_detection_export(tmp_path / "roads", ROADS, ("road", "car", "bus", "truck"))
    result = runner.invoke(app, ["data", "check", str(files["train"]), "--sigmoid"])
    assert result.exit_code == 0, result.output
    said = [line for line in result.output.splitlines() if "derived from them" in line]
    assert len(said) == 1
    assert "an image is labelled with every class that has a box in it" in result.output
    assert "12 of 24 train image(s) become multilabel" in result.output
    # One box per image (the CVAT fixture): image labels, nothing to say.
    cvat = write_cvat_export(tmp_path / "cvat", {"train": 4})
    plain = runner.invoke(app, ["data", "check", str(cvat["train"])])
    assert "derived from them" not in plain.output


def test_three_image_export_warns_small_data_and_new_keeps_it(runner, scratch, tmp_path) -> None:
    files = write_roboflow_export(tmp_path / "rf", {"train": 3, "valid": 2})
    check = runner.invoke(app, ["data", "check", str(files["train"]), "--val", str(files["valid"])])
    assert check.exit_code == 0, check.output
    assert "small data: 2 class(es) have fewer than 10 training images" in check.output
    assert "'cat' 2, 'dog' 1" in check.output
    assert "fewer than 5 validation images" in check.output
    made = _new(runner, "--train", str(files["train"]), "--val", str(files["valid"]))
    assert made.exit_code == 0, made.output
    assert "warning: small data: 2 class(es) have fewer than 10 training images" in made.output
    root = Path(made.stdout.strip().splitlines()[-1])
    warnings = json.loads((root / "record.json").read_text())["data_warnings"]
    assert len(warnings) == 2 and "fewer than 10 training images" in warnings[0]
    shown = runner.invoke(app, ["show", str(root)])
    assert "data warning: small data: 2 class(es)" in shown.output


def test_validation_missing_a_class_is_refused_by_new_as_by_data_check(
    runner, scratch, tmp_path
) -> None:
    # Before: data check refused it, new accepted the same files.
    files = write_cvat_export(tmp_path / "export", {"train": 24, "val": 1})
    check = runner.invoke(app, ["data", "check", str(files["train"]), "--val", str(files["val"])])
    assert check.exit_code == 1 and "class 'dog': 0 validation images" in check.output
    new = _new(runner, "--train", str(files["train"]), "--val", str(files["val"]))
    assert new.exit_code == 2, new.output
    assert "class 'dog': 0 validation images" in new.output


def test_background_missing_from_validation_is_not_usable(runner, scratch, tmp_path) -> None:
    # Before: not checked at all (the background class had no validation image).
    from tests.datasets.fixtures_exports import write_label_studio_export

    train = write_label_studio_export(tmp_path / "t", 12, names=("break",), unlabelled=12)
    val = write_label_studio_export(tmp_path / "v", 6, names=("break",), seed=9000)
    check = runner.invoke(
        app, ["data", "check", str(train), "--val", str(val), "--unlabelled", "background"]
    )
    assert check.exit_code == 1, check.output
    assert f"{val}: class 'background': 0 validation images" in check.output
    new = _new(
        runner, "--train", str(train), "--val", str(val), "--set", "dataset.unlabelled=background"
    )
    assert new.exit_code == 2 and "class 'background': 0 validation images" in new.output


def test_one_function_builds_the_table_from_real_params(eggs) -> None:
    from abyssexp.datasets.class_table import class_table

    params = DatasetParams(train=str(eggs["train"]), val=str(eggs["valid"]))
    table = class_table(params, softmax=True, root=Path.cwd())
    assert table.splits["train"].in_file == {"fertile": 16, "infertile": 4}
    assert table.splits["train"].trains_as == {"fertile": 12, "infertile": 0}
    assert not table.usable and table.differs
    shared = params.model_copy(update={"softmax_multilabel": "share"})
    table = class_table(shared, softmax=True, root=Path.cwd())
    assert table.usable and table.splits["train"].trains_as == {"fertile": 16, "infertile": 4}
    assert len(table.datasets["train"]) == 16


def test_train_plan_carries_the_small_data_warnings(runner, scratch, tmp_path) -> None:
    from abyssexp.experiment.layout import ExperimentPaths
    from abyssexp.training.plan import TrainOptions, plan_training

    files = write_roboflow_export(tmp_path / "rf", {"train": 6, "valid": 4})
    made = _new(runner, "--train", str(files["train"]), "--val", str(files["valid"]), *TINY)
    assert made.exit_code == 0, made.output
    plan = plan_training(
        ExperimentPaths(Path(made.stdout.strip().splitlines()[-1])), TrainOptions()
    )
    assert len(plan.data_warnings) == 2
    assert "fewer than 10 training images" in plan.data_warnings[0]
    assert "fewer than 5 validation images" in plan.data_warnings[1]


def test_one_class_with_sigmoid_points_at_negatives(runner, tmp_path) -> None:
    from tests.datasets.fixtures_exports import write_label_studio_export

    path = write_label_studio_export(tmp_path / "ls", 4, names=("break",), unlabelled=6)
    result = runner.invoke(app, ["data", "check", str(path), "--sigmoid"])
    assert result.exit_code == 1 and "--unlabelled zeros keeps its 6 unlabelled" in result.output
    zeros = runner.invoke(app, ["data", "check", str(path), "--sigmoid", "--unlabelled", "zeros"])
    assert zeros.exit_code == 0, zeros.output
