"""``data label-issues``: cleanlab's ranking of out-of-fold predictions, the review files (table,
suspects COCO, page of thumbnails), the install line without cleanlab, and a real fold sweep
whose trials save their out-of-fold predictions as they complete."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from abyssexp.cli import app
from abyssexp.report.label_issues_page import write_review_files
from abyssexp.results.label_issues import (
    ISSUE_FIELD,
    OutOfFold,
    rank_label_issues,
    suspects_coco,
)
from tests.training.helpers import new_tiny

pytest.importorskip("cleanlab", reason="cleanlab is in the dev extra")

NAMES = ["boxy", "pointy", "round"]


def _planted(
    images: int = 60, flipped: tuple[int, ...] = (3, 17, 40), multilabel: bool = False
) -> tuple[OutOfFold, list[int]]:
    """Out-of-fold probabilities of a good model (0.9 on the true class, a little noise), with
    the given labels of ``flipped`` images moved to another class: the planted errors."""
    rng = np.random.default_rng(0)
    true = [i % 3 for i in range(images)]
    probs = np.full((images, 3), 0.05) + rng.uniform(0, 0.02, (images, 3))
    probs[np.arange(images), true] = 0.9
    if not multilabel:
        probs /= probs.sum(axis=1, keepdims=True)
    given = [[(t + 1) % 3] if i in flipped else [t] for i, t in enumerate(true)]
    files = [f"/nowhere/img_{i:03d}.jpg" for i in range(images)]
    coco = {
        "info": {"description": "planted"},
        "images": [
            {"id": 100 + i, "file_name": Path(f).name, "path": f} for i, f in enumerate(files)
        ],
        "annotations": [
            {"id": i, "image_id": 100 + i, "category_id": g[0] + 1} for i, g in enumerate(given)
        ],
        "categories": [{"id": c + 1, "name": n} for c, n in enumerate(NAMES)],
    }
    oof = OutOfFold(
        class_names=NAMES,
        activation="sigmoid" if multilabel else "softmax",
        image_ids=[100 + i for i in range(images)],
        files=files,
        given=given,
        predicted=[[NAMES[t]] for t in true],
        probs=probs,
        coco=coco,
        trials=["001.a.fold0", "002.a.fold1"],
    )
    return oof, [100 + i for i in flipped]


@pytest.mark.parametrize("ranked_by", ["self_confidence", "normalized_margin"])
def test_softmax_flags_exactly_the_planted_errors_with_the_right_suggestion(ranked_by) -> None:
    oof, planted = _planted()
    result = rank_label_issues(oof, ranked_by, "p/t/s001")
    assert sorted(i.image_id for i in result.issues) == planted
    for issue in result.issues:
        index = issue.image_id - 100
        assert issue.suggested == [NAMES[index % 3]]  # what the model saw, not the label
        assert issue.given == [NAMES[(index % 3 + 1) % 3]]
        assert 0.0 <= issue.score < 0.2
    scores = [i.score for i in result.issues]
    assert scores == sorted(scores)  # most likely wrong first
    assert [i.rank for i in result.issues] == [1, 2, 3]
    assert result.images == 60 and result.skipped == 0


def test_multilabel_flags_a_missing_and_spurious_labels_and_nothing_else() -> None:
    oof, _ = _planted(flipped=(), multilabel=True)
    oof.given[5] = []  # a label left out (the model is sure of class 2)
    oof.given[13] = [1, 2]  # a spurious second label on two class-1 images
    oof.given[22] = [1, 2]
    result = rank_label_issues(oof, "self_confidence")
    assert sorted(i.image_id for i in result.issues) == [105, 113, 122]
    found = {i.image_id: i for i in result.issues}
    assert found[105].given == [] and found[105].suggested == ["round"]
    assert found[113].given == ["pointy", "round"] and found[113].suggested == ["pointy"]
    assert result.activation == "sigmoid"


def test_softmax_images_without_one_label_are_counted_not_ranked() -> None:
    oof, planted = _planted()
    oof.given[1] = []
    oof.given[2] = [0, 1]
    result = rank_label_issues(oof, "self_confidence")
    assert result.skipped == 2 and result.images == 58
    assert sorted(i.image_id for i in result.issues) == planted


def test_models_that_learned_nothing_are_said_to() -> None:
    oof, _ = _planted()
    assert rank_label_issues(oof, "self_confidence").warning() is None
    oof.probs[:] = [0.2, 0.5, 0.3]  # one answer for every image, as an untrained model gives
    oof.predicted = [["pointy"]] * len(oof.predicted)
    result = rank_label_issues(oof, "self_confidence")
    assert result.agreement == pytest.approx(1 / 3, abs=0.05)
    assert "learned too little" in result.warning()
    assert result.to_json()["warning"] == result.warning()


def test_suspects_coco_keeps_the_suspects_their_annotations_and_every_category() -> None:
    oof, planted = _planted()
    coco = suspects_coco(rank_label_issues(oof, "self_confidence"))
    assert sorted(image["id"] for image in coco["images"]) == planted
    assert sorted(a["image_id"] for a in coco["annotations"]) == planted
    assert len(coco["categories"]) == 3 and coco["info"] == {"description": "planted"}
    finding = coco["images"][0][ISSUE_FIELD]
    assert finding["rank"] == 1 and finding["suggested"] and "score" in finding


def _page(tmp_path: Path, shapes: dict[str, Path]) -> Path:
    """The review files of planted errors whose images are the shapes fixture's real JPEGs."""
    oof, _ = _planted(images=24, flipped=(3, 10, 17))
    images = json.loads(shapes["val"].read_text())["images"]
    oof.files = [str(shapes["val"].parent / image["file_name"]) for image in images]
    oof.files[17] = str(tmp_path / "gone.jpg")  # an image that moved: a placeholder, no error
    return write_review_files(rank_label_issues(oof, "self_confidence"), tmp_path / "review").page


def test_the_page_is_self_contained_with_thumbnails(tmp_path: Path, shapes) -> None:
    page = _page(tmp_path, shapes)
    html = page.read_text()
    assert html.count('src="data:image/jpeg;base64,') == 2  # #17's file is gone
    assert "image not found" in html and "http" not in html.replace("http-equiv", "")
    assert "3 of 24 images flagged" in html


@pytest.mark.browser
def test_the_page_renders_in_headless_chromium_with_the_network_off(tmp_path, shapes) -> None:
    from tests.report.browser import CHROMIUM, load_offline

    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no chromium at {CHROMIUM}: `make test-browser` installs it")
    pytest.importorskip("websocket", reason="websocket-client is in the dev extra")
    result = load_offline(_page(tmp_path, shapes), width=900, height=700)
    assert result.requests == [] and result.failed == [], (result.requests, result.failed)
    assert result.console_errors == [], result.console_errors
    assert len(result.images) == 2
    assert all(i["complete"] and i["width"] > 0 for i in result.images), result.images
    assert result.screenshot.startswith(b"\x89PNG")
    target = os.environ.get("ABYSSEXP_SCREENSHOT")
    if target:
        Path(target).write_bytes(result.screenshot)


def test_without_cleanlab_the_command_says_how_to_install_it(runner, scratch, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "cleanlab", None)  # what an absent package does to import
    result = runner.invoke(app, ["data", "label-issues", "p/t/s001"])
    assert result.exit_code == 2, result.output
    assert "pip install 'abyssexp[labels]'" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def _fold_sweep(runner, shapes, folds: int = 3) -> str:
    base = new_tiny(runner, shapes, "--set", "training.epochs=1")
    made = runner.invoke(
        app, ["sweep", "new", "proj", "folds", "tiny", "--from", str(base), "--folds", str(folds)]
    )
    assert made.exit_code == 0, made.output
    return made.stdout.strip().splitlines()[-1]


def test_untrained_trials_say_which_command_makes_their_predictions(
    runner, scratch, shapes
) -> None:
    sweep = _fold_sweep(runner, shapes)
    result = runner.invoke(app, ["data", "label-issues", sweep])
    assert result.exit_code == 2, result.output
    assert "001.tiny.fold0: no out-of-fold predictions" in result.output
    assert "--condition heldout" in result.output and "coco.val.json" in result.output
    assert "Traceback" not in result.output


def test_a_sweep_without_folds_is_refused(runner, scratch, shapes) -> None:
    base = new_tiny(runner, shapes)
    made = runner.invoke(
        app, ["sweep", "new", "proj", "grid", "tiny", "--from", str(base), "--seeds", "2"]
    )
    assert made.exit_code == 0, made.output
    result = runner.invoke(app, ["data", "label-issues", "proj/grid/s001"])
    assert result.exit_code == 2 and "has no folds" in result.output, result.output


@pytest.mark.slow
def test_a_real_fold_sweep_end_to_end(runner, scratch, shapes, tmp_path) -> None:
    sweep = _fold_sweep(runner, shapes)
    trials = sorted((scratch / "proj" / "folds").glob("00*"))
    for trial in trials:
        trained = runner.invoke(app, ["train", str(trial), "--quiet"])
        assert trained.exit_code == 0, trained.output
    # Every image of the training file predicted once, each by the model that never saw it.
    seen: list[int] = []
    for trial in trials:
        rows = json.loads((trial / "testing" / "heldout" / "predictions.json").read_text())
        held = json.loads((trial / "datasets" / "coco.val.json").read_text())["images"]
        assert sorted(r["image_id"] for r in rows) == sorted(i["id"] for i in held)
        trained_on = json.loads((trial / "datasets" / "coco.train.json").read_text())["images"]
        assert not {r["image_id"] for r in rows} & {i["id"] for i in trained_on}
        seen += [r["image_id"] for r in rows]
    source = json.loads(shapes["train"].read_text())["images"]
    assert sorted(seen) == sorted(i["id"] for i in source)
    out = tmp_path / "review"
    result = runner.invoke(
        app, ["data", "label-issues", sweep, "--out-dir", str(out), "--top", "5"],
        env={"COLUMNS": "80"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = [line for line in result.stdout.splitlines() if not line.startswith("/")]
    assert all(len(line) <= 80 for line in table), result.stdout  # paths stay whole
    assert result.stdout.strip().splitlines()[-3:] == [
        str(out / "label-issues.html"), str(out / "suspects.coco.json"),
        str(out / "label-issues.json"),
    ]  # fmt: skip
    ranking = json.loads((out / "label-issues.json").read_text())
    assert ranking["images"] == len(source) and len(ranking["trials"]) == 3
    suspects = json.loads((out / "suspects.coco.json").read_text())
    assert [i["id"] for i in suspects["images"]] == [i["image_id"] for i in ranking["issues"]]
    assert all(Path(i["path"]).is_file() for i in suspects["images"])
    as_json = runner.invoke(app, ["data", "label-issues", sweep, "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["files"]["page"].endswith(
        ".sweeps/s001.label-issues/label-issues.html"
    )
