"""A Label Studio export (one result.json, images/ prefixes) is split with ``data split`` and goes
data check → new → train → test on the first attempt."""

import pytest

from abyssexp.cli import app
from tests.datasets.fixtures_exports import first_attempt, write_label_studio_export


@pytest.fixture(scope="module")
def label_studio_run(tmp_path_factory) -> dict:
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("label-studio")
    result_json = write_label_studio_export(root / "project-3-at-2024", 48)
    runner = CliRunner()
    out = root / "splits"
    split = runner.invoke(
        app,
        ["data", "split", str(result_json), "--val", "0.25", "--test", "0.25", "--seed", "1"]
        + ["--out-dir", str(out)],
    )
    assert split.exit_code == 0, split.output
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ABYSSEXP_SCRATCH", str(root / "scratch"))
        patch.setenv("ABYSSEXP_CONFIG", str(root / "no-config.toml"))
        result = first_attempt(
            runner,
            out / "coco.train.json",
            out / "coco.val.json",
            out / "coco.test.json",
            "--make-datasets",
            str(out / "make-datasets.sh"),
        )
    return {**result, "out": out}


@pytest.mark.slow
def test_label_studio_export_trains_first_time(label_studio_run) -> None:
    assert set(label_studio_run["metrics"]["per_class"]) == {"Cat", "Dog"}
    assert label_studio_run["metrics"]["images"] == 12
    script = (label_studio_run["root"] / "datasets" / "make-datasets.sh").read_text()
    assert "abyssexp data split" in script and "--seed 1" in script
