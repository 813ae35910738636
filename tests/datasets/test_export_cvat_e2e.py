"""A CVAT COCO 1.0 export goes data check → new → train → test on the first attempt."""

from pathlib import Path

import pytest

from tests.datasets.fixtures_exports import first_attempt, write_cvat_export


@pytest.fixture(scope="module")
def cvat_run(tmp_path_factory) -> dict:
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("cvat")
    files = write_cvat_export(root / "export", {"train": 24, "val": 8, "test": 8})
    scratch = root / "scratch"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ABYSSEXP_SCRATCH", str(scratch))
        patch.setenv("ABYSSEXP_CONFIG", str(root / "no-config.toml"))
        result = first_attempt(CliRunner(), files["train"], files["val"], files["test"])
    return {**result, "export": root / "export"}


@pytest.mark.slow
def test_cvat_export_trains_first_time(cvat_run) -> None:
    assert "looks like a CVAT export" in cvat_run["check"]
    images = cvat_run["export"] / "images" / "train"
    assert f"images: {images} (images/train/ beside annotations/" in cvat_run["new"]
    assert set(cvat_run["metrics"]["per_class"]) == {"cat", "dog"}
    assert cvat_run["metrics"]["images"] == 8
    params = (cvat_run["root"] / "models" / "params.json").read_text()
    assert str(images) in params and "found: images/train/ beside annotations/" in params


@pytest.mark.slow
def test_test_finds_the_cvat_test_images_and_says_where(cvat_run) -> None:
    assert f"images: {cvat_run['export'] / 'images' / 'test'}" in cvat_run["report"]
    assert Path(cvat_run["metrics"]["dataset"]).name == "instances_test.json"
