import json
from pathlib import Path

import pytest

from abyssexp.errors import InvalidInputError
from abyssexp.experiment.create import NewExperimentRequest, create_experiment
from abyssexp.schemas.resolve import parse_set_options


def _request(scratch: Path, **kwargs) -> NewExperimentRequest:
    base = {"scratch": scratch, "project": "proj", "experiment_type": "cls", "dataset_info": "ds"}
    base.update(kwargs)
    return NewExperimentRequest(**base)


def test_layout_params_readme_record(scratch: Path, shapes: dict[str, Path]) -> None:
    made = create_experiment(
        _request(
            scratch,
            infos=["lr1e-3"],
            train=shapes["train"],
            val=shapes["val"],
            overrides=parse_set_options(["training.lr=1e-3", "dataset.map_by=supercategory"]),
            note="check the layout",
            command_line=["abyssexp", "new", "proj"],
        )
    )
    root = made.path
    assert root == scratch / "proj" / "cls" / "001.ds.lr1e-3"
    for folder in ("datasets", "logs", "models", "testing"):
        assert (root / folder).is_dir()
    assert (root / "datasets" / "coco.train.json").read_bytes() == shapes["train"].read_bytes()
    params = json.loads((root / "models" / "params.json").read_text())
    assert params["training"]["lr"] == 1e-3
    assert params["dataset"]["train"] == "datasets/coco.train.json"
    assert params["dataset"]["image_dir"]["train"] == str(shapes["train"].parent)
    # map_by builds the map into params: sorted supercategories boxy, pointy, round.
    assert params["dataset"]["category_map"] == {"3": 2, "7": 2, "11": 0, "12": 0, "20": 1, "31": 1}
    readme = (root / "readme.txt").read_text()
    assert "001.ds.lr1e-3" in readme and "check the layout" in readme and "Conclusion" in readme
    assert "abyssexp new proj" in readme
    record = json.loads((root / "record.json").read_text())
    assert record["status"] == "new" and record["number"] == 1
    provenance = json.loads((root / "logs" / "provenance.json").read_text())
    assert "git" in provenance["new"] and provenance["new"]["packages"]["pydantic"]


def test_from_parent_copies_params_and_records_parent(
    scratch: Path, shapes: dict[str, Path]
) -> None:
    parent = create_experiment(
        _request(scratch, train=shapes["train"], overrides=parse_set_options(["training.lr=0.01"]))
    )
    child = create_experiment(
        _request(
            scratch, parent_ref="proj/cls/1", overrides=parse_set_options(["training.epochs=2"])
        )
    )
    params = json.loads((child.path / "models" / "params.json").read_text())
    assert params["training"]["lr"] == 0.01 and params["training"]["epochs"] == 2
    assert (child.path / "datasets" / "coco.train.json").is_file()
    assert child.parent == f"proj/cls/{parent.name}"


def test_bad_set_leaves_nothing(scratch: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        create_experiment(_request(scratch, overrides=parse_set_options(["training.lr=-1"])))
    assert info.value.problems == ["training.lr: Input should be greater than 0 (got -1)"]
    assert not (scratch / "proj" / "cls").exists() or not any(
        p for p in (scratch / "proj" / "cls").iterdir() if not p.name.startswith(".")
    )


def test_unreadable_dataset_leaves_nothing(scratch: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [')
    # A broken COCO file given to `new` is invalid input (exit 2), like a bad --set value.
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        create_experiment(_request(scratch, train=broken))
    type_dir = scratch / "proj" / "cls"
    assert (
        not type_dir.exists() or [p.name for p in type_dir.iterdir() if p.name != ".claims"] == []
    )


def test_failure_after_claim_removes_folder_and_claim(
    scratch: Path, shapes: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import abyssexp.experiment.create as create_module

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(create_module, "render_template", explode)
    with pytest.raises(OSError):
        create_experiment(_request(scratch, train=shapes["train"]))
    type_dir = scratch / "proj" / "cls"
    assert [p.name for p in type_dir.iterdir() if p.name != ".claims"] == []
    assert list((type_dir / ".claims").glob("*")) == []  # no debris: .claims/ goes too
    # The number is free again.
    monkeypatch.undo()
    assert create_experiment(_request(scratch)).number == 1


def test_new_runs_the_cheap_data_checks_before_claiming(
    scratch: Path, shapes: dict[str, Path], tmp_path: Path
) -> None:
    data = json.loads(shapes["train"].read_text())
    data["images"].append(dict(data["images"][0]))
    broken = tmp_path / "dup.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(InvalidInputError, match=r"dup.json: 1 duplicate image id\(s\): 1"):
        create_experiment(_request(scratch, train=broken))
    assert not (scratch / "proj" / "cls").exists()
