"""A Roboflow COCO export (placeholder category 0, train/valid/test folders) trains first time
with the placeholder out of the class table."""

import json

import pytest

from tests.datasets.fixtures_exports import first_attempt, write_roboflow_export


@pytest.fixture(scope="module")
def roboflow_run(tmp_path_factory) -> dict:
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("roboflow")
    files = write_roboflow_export(root / "pets.v1i.coco", {"train": 24, "valid": 8, "test": 8})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ABYSSEXP_SCRATCH", str(root / "scratch"))
        patch.setenv("ABYSSEXP_CONFIG", str(root / "no-config.toml"))
        return first_attempt(CliRunner(), files["train"], files["valid"], files["test"])


@pytest.mark.slow
def test_roboflow_export_trains_without_the_placeholder(roboflow_run) -> None:
    assert "looks like a Roboflow export" in roboflow_run["check"]
    assert "dropped category 0 'pets' from the map: a Roboflow placeholder" in roboflow_run["new"]
    names = json.loads((roboflow_run["root"] / "models" / "class_names.json").read_text())
    assert names == ["cat", "dog"]
    assert set(roboflow_run["metrics"]["per_class"]) == {"cat", "dog"}
