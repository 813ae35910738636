"""compare, tags, notes, archive/restore/rm and --filter on real experiment folders (no training)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from abyssexp.cli import app


def _new(runner, *args: str) -> Path:
    result = runner.invoke(app, ["new", "shapes", "classification", "synthetic", *args])
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def three(runner, scratch: Path) -> list[Path]:
    first = _new(runner, "lr2e-3", "--set", "training.lr=0.002", "--note", "Baseline")
    second = _new(
        runner, "lr5e-4", "--from", "shapes/classification/1", "--set", "training.lr=5e-4"
    )
    third = _new(runner, "lr1e-4", "--set", "training.lr=1e-4", "--set", "model.backbone=mobilenet")
    return [first, second, third]


def test_compare_three_shows_exactly_the_params_that_differ(runner, three) -> None:
    result = runner.invoke(app, ["compare", "shapes/classification/*", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [e["path"] for e in data["experiments"]] == [str(p) for p in three]
    assert data["params"] == {
        "model.backbone": ["xception", "xception", "mobilenet"],
        "training.lr": [0.002, 0.0005, 0.0001],
    }
    table = runner.invoke(app, ["compare", "shapes/classification/1", "shapes/classification/3"])
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert any("training.lr" in line and "0.002" in line and "0.0001" in line for line in lines)
    assert any("model.backbone" in line for line in lines)
    assert not any("training.epochs" in line for line in lines)


def test_compare_selects_by_filter_status_and_tag(runner, three) -> None:
    def selected(*args: str) -> list[str]:
        result = runner.invoke(app, ["compare", "shapes/classification/*", "--json", *args])
        assert result.exit_code == 0, result.output
        return [Path(e["path"]).name for e in json.loads(result.stdout)["experiments"]]

    assert selected("--filter", "training.lr<1e-3") == [three[1].name, three[2].name]
    assert selected("--filter", "training.lr>=5e-4", "--filter", "model.backbone!=mobilenet") == [
        three[0].name,
        three[1].name,
    ]
    assert runner.invoke(app, ["tag", "shapes/classification/2", "baseline", "keep"]).exit_code == 0
    assert selected("--tag", "baseline") == [three[1].name]
    assert selected("--status", "new", "--tag", "keep") == [three[1].name]
    listed = runner.invoke(app, ["list", "--tag", "baseline", "--json"])
    assert [r["tags"] for r in json.loads(listed.stdout)] == [["baseline", "keep"]]
    assert "baseline,keep" in runner.invoke(app, ["list"]).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--filter", "training.lr<<1"], "< needs a number. Received: '<1'"),
        (["--filter", "training.lrr<1"], "unknown key 'training.lrr' (did you mean training.lr"),
        (["--filter", "training.lr"], "expected KEY OP VALUE with OP one of != <= >= = < >"),
        (["--status", "done"], "unknown status done (valid: new, running, completed"),
        (["--metric", "val_nope"], "--metric: no experiment has 'val_nope' (valid: none"),
    ],
)
def test_compare_bad_options_are_one_line_exit_2(runner, three, args, message) -> None:
    result = runner.invoke(app, ["compare", "shapes/classification/*", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_compare_flags_different_datasets(runner, three) -> None:
    for index, root in enumerate(three[:2]):
        provenance = json.loads((root / "logs" / "provenance.json").read_text())
        provenance["train"] = {
            **provenance["new"],
            "datasets": {"train": {"path": "x", "sha256": f"{index}" * 64}},
        }
        (root / "logs" / "provenance.json").write_text(json.dumps(provenance))
    result = runner.invoke(app, ["compare", "shapes/classification/1", "shapes/classification/2"])
    assert result.exit_code == 0, result.output
    assert "different datasets (train)" in result.stderr
    data = json.loads(
        runner.invoke(app, ["compare", "shapes/classification/[12]", "--json"]).stdout
    )
    assert data["dataset_mismatch"] == ["train"]


def test_note_edits_purpose_and_conclusion_in_record_and_readme(runner, three) -> None:
    root = three[0]
    assert (
        runner.invoke(app, ["note", "shapes/classification/1", "Sharper baseline"]).exit_code == 0
    )
    result = runner.invoke(
        app, ["note", "shapes/classification/1", "--conclusion", "Keep it: 0.93 on test."]
    )
    assert result.exit_code == 0, result.output
    readme = (root / "readme.txt").read_text()
    purpose = readme.split("Purpose\n-------\n", 1)[1]
    assert purpose.startswith("Sharper baseline\n\nDatasets\n--------\n")
    assert readme.rstrip().endswith("Conclusion\n----------\nKeep it: 0.93 on test.")
    assert "Baseline\n" not in readme and "(Fill in once" not in readme
    assert json.loads((root / "record.json").read_text())["note"] == "Sharper baseline"
    empty = runner.invoke(app, ["note", "shapes/classification/1"])
    assert empty.exit_code == 2 and "give the purpose text" in empty.output


def test_bad_tag_is_refused(runner, three) -> None:
    result = runner.invoke(app, ["tag", "shapes/classification/1", "no/slash"])
    assert result.exit_code == 2 and "tag: 'no/slash' contains a path separator" in result.output


def test_archive_hides_restore_returns_and_numbers_stay_claimed(runner, scratch, three) -> None:
    archived = runner.invoke(app, ["archive", "shapes/classification/3"])
    assert archived.exit_code == 0, archived.output
    target = scratch / ".archive" / "shapes" / "classification" / three[2].name
    assert Path(archived.stdout.strip()) == target and target.is_dir() and not three[2].exists()
    names = [r["name"] for r in json.loads(runner.invoke(app, ["list", "--json"]).stdout)]
    assert names == [three[0].name, three[1].name]
    hidden = json.loads(runner.invoke(app, ["list", "--archived", "--json"]).stdout)
    assert [r["name"] for r in hidden] == [three[2].name]
    # The highest number is in the archive: a new experiment still gets a new one.
    assert _new(runner, "next").name == "004.synthetic.next"
    restored = runner.invoke(app, ["restore", "shapes/classification/3"])
    assert restored.exit_code == 0, restored.output
    assert three[2].is_dir() and not target.exists()


def test_rm_asks_moves_to_the_archive_and_never_removes_promoted(runner, scratch, three) -> None:
    refused = runner.invoke(app, ["rm", "shapes/classification/2"], input="n\n")
    assert refused.exit_code == 1 and three[1].is_dir()
    removed = runner.invoke(app, ["rm", "shapes/classification/2"], input="y\n")
    assert removed.exit_code == 0, removed.output
    assert not three[1].exists()
    assert not (scratch / ".archive" / "shapes" / "classification" / three[1].name).exists()
    assert _new(runner, "after-rm").name.startswith("004.")  # 2 is never reused either
    record = json.loads((three[0] / "record.json").read_text())
    record["promotions"] = [{"path": "/store/shapes/classification/x", "checkpoint": "best.keras"}]
    (three[0] / "record.json").write_text(json.dumps(record))
    promoted = runner.invoke(app, ["rm", "shapes/classification/1", "--yes"])
    assert promoted.exit_code == 1 and "was promoted" in promoted.output and three[0].is_dir()


def test_archive_refuses_a_symlinked_type_folder(runner, scratch, three, tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere"
    os.rename(scratch / "shapes", elsewhere)
    (scratch / "shapes").symlink_to(elsewhere)
    result = runner.invoke(app, ["rm", "shapes/classification/3", "--yes"])
    assert result.exit_code == 1 and "is a symlink" in result.output
    assert (elsewhere / "classification" / three[2].name).is_dir()
