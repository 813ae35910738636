"""A one-category export ("break" vs nothing) trains as break vs background."""

import json

import pytest

from abyssexp.cli import app
from tests.datasets.fixtures_exports import first_attempt, write_label_studio_export


@pytest.fixture(scope="module")
def background_run(tmp_path_factory) -> dict:
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("one-category")
    runner = CliRunner()
    files = {}
    for seed, (split, (labelled, unlabelled)) in enumerate(
        {"train": (12, 12), "val": (4, 4), "test": (4, 4)}.items()
    ):
        files[split] = write_label_studio_export(
            root / split, labelled, names=("break",), unlabelled=unlabelled, seed=1000 * seed
        )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ABYSSEXP_SCRATCH", str(root / "scratch"))
        patch.setenv("ABYSSEXP_CONFIG", str(root / "no-config.toml"))
        refused = runner.invoke(
            app, ["new", "exports", "first-try", "d", "--train", str(files["train"])]
        )
        result = first_attempt(
            runner,
            files["train"],
            files["val"],
            files["test"],
            "--set",
            "dataset.unlabelled=background",
        )
    return {**result, "refused": refused}


@pytest.mark.slow
def test_one_class_without_background_is_refused_with_the_fix(background_run) -> None:
    refused = background_run["refused"]
    assert refused.exit_code == 2, refused.output
    assert "--set dataset.unlabelled=background" in refused.output
    assert "12 unlabelled image(s)" in refused.output


@pytest.mark.slow
def test_break_vs_background_trains_and_tests_both_classes(background_run) -> None:
    names = json.loads((background_run["root"] / "models" / "class_names.json").read_text())
    assert names == ["break", "background"]
    per_class = background_run["metrics"]["per_class"]
    assert per_class["break"]["support"] == 4 and per_class["background"]["support"] == 4
    assert "break" in background_run["report"] and "background" in background_run["report"]
