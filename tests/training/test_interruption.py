"""Interrupted runs and the record: a partial epoch is never recorded, a resumed run continues
the data order of an uninterrupted one, train-time param changes leave a trace, and a refused
start never changes the record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abyssexp.cli import app
from tests.training.helpers import (
    DETERMINISTIC,
    history,
    new_tiny,
    record,
    straight_then_interrupted,
    train_in_scratch,
)


@pytest.mark.slow
def test_partial_epoch_is_discarded_and_resume_continues_the_same_order(
    runner, scratch: Path, shapes
) -> None:
    straight = new_tiny(runner, shapes, *DETERMINISTIC, name="straight")
    cut = new_tiny(runner, shapes, *DETERMINISTIC, name="cut")
    interrupted = straight_then_interrupted(straight, cut, scratch)
    assert interrupted.stdout.split()[-2:] == ["interrupted", "1"]
    # Epoch 2 was cut at batch 3 of 6: no history row, no checkpoint, the state at epoch 1.
    assert [row["epoch"] for row in history(cut)] == ["1"]
    assert not (cut / "models" / "model_2.keras").exists()
    assert json.loads((cut / "models" / "train_state.json").read_text())["epoch"] == 1
    assert (cut / "models" / "recovery.keras").is_file()
    rec = record(cut)
    assert rec["status"] == "interrupted" and rec["epochs_done"] == 1

    resumed = train_in_scratch(cut, scratch, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # Exactly E rows, and the same numbers as the uninterrupted run: same weights after epoch 1,
    # the same shuffle and seeds for epochs 2 and 3.
    assert history(cut) == history(straight)
    assert sorted(p.name for p in (cut / "models").glob("model_*.keras")) == sorted(
        p.name for p in (straight / "models").glob("model_*.keras")
    )


@pytest.mark.slow
def test_train_overrides_leave_a_trace_and_refused_starts_change_nothing(
    runner, scratch: Path, shapes
) -> None:
    root = new_tiny(
        runner, shapes, "--set", "training.epochs=1", "--set", "callbacks.pr_curves=false"
    )
    first = train_in_scratch(root, scratch, "--epochs", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    rec = record(root)
    assert rec["status"] == "completed" and rec["epochs_done"] == 2
    (change,) = rec["params_changes"]
    assert change["changes"] == {"training.epochs": {"from": 1, "to": 2}}
    assert "--epochs" in change["command_line"] and change["time"]

    # The last checkpoint is gone (as after `promote --move`): resuming is refused, and the
    # completed record is left exactly as it was.
    (root / "models" / "model_2.keras").unlink()
    before = (root / "record.json").read_bytes()
    refused = train_in_scratch(root, scratch, "--resume", "--epochs", "3")
    assert refused.returncode == 1
    assert "model_2.keras" in refused.stderr and "--from" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert (root / "record.json").read_bytes() == before


def test_list_and_show_survive_broken_records_and_params(runner, scratch: Path, shapes) -> None:
    good = new_tiny(runner, shapes, name="good")
    wrong_type = new_tiny(runner, shapes, name="wrongtype")
    torn = new_tiny(runner, shapes, name="torn")
    data = json.loads((wrong_type / "record.json").read_text())
    data["epochs_done"] = {"not": "a number"}
    (wrong_type / "record.json").write_text(json.dumps(data))
    (torn / "record.json").write_text((torn / "record.json").read_text()[:40])

    listed = runner.invoke(app, ["list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows[good.name]["status"] == "new"
    assert rows[wrong_type.name]["status"] == "unreadable"
    assert "epochs_done" in rows[wrong_type.name]["error"]
    assert (
        rows[torn.name]["status"] == "unreadable" and "does not parse" in rows[torn.name]["error"]
    )
    table = runner.invoke(app, ["list"])
    assert table.exit_code == 0 and "unreadable" in table.output

    shown = runner.invoke(app, ["show", str(torn)])
    assert shown.exit_code == 0, shown.output
    assert "unreadable" in shown.output and "does not parse" in shown.output

    # A writer stops on the broken record instead of overwriting it.
    before = (torn / "record.json").read_bytes()
    refused = runner.invoke(app, ["train", str(torn), "--quiet"])
    assert refused.exit_code == 1 and "record.json" in refused.output
    assert (torn / "record.json").read_bytes() == before

    params = good / "models" / "params.json"
    params.write_text(params.read_text()[:30])
    shown = runner.invoke(app, ["show", str(good)])
    assert shown.exit_code == 0, shown.output
    assert "params: unreadable" in shown.output and "all defaults" not in shown.output
    params.write_text("[1, 2]")
    shown = runner.invoke(app, ["show", str(good)])
    assert shown.exit_code == 0 and "params: unreadable" in shown.output
    assert runner.invoke(app, ["list", "--changed", "--json"]).exit_code == 0


def test_list_validates_sort_and_status_and_hides_half_created(
    runner, scratch: Path, shapes
) -> None:
    root = new_tiny(runner, shapes)
    assert not list(root.parent.glob(".creating.*"))  # `new` renamed its staging folder
    (root.parent / ".creating.009.tiny").mkdir()  # what `list` would see while `new` runs
    listed = runner.invoke(app, ["list", "--json"])
    assert [row["name"] for row in json.loads(listed.stdout)] == [root.name]

    bad_sort = runner.invoke(app, ["list", "--sort", "bset"])
    assert bad_sort.exit_code == 2 and "created, name" in bad_sort.output
    bad_status = runner.invoke(app, ["list", "--status", "complete"])
    assert bad_status.exit_code == 2 and "completed" in bad_status.output
    ok = runner.invoke(app, ["list", "--status", "new,completed", "--sort", "-created"])
    assert ok.exit_code == 0, ok.output
