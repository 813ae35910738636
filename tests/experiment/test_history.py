"""history.csv's one parser: the columns compare reads, the rows training resumes from and the
best value an Optuna sweep reports all agree on what a line means."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from abyssexp.errors import ExperimentStateError
from abyssexp.experiment.history import (
    best_in_history,
    read_history_columns,
    read_history_rows,
)

#: Blank line, short row, a value that is not a number, a repeated column: the last one counts.
TEXT = "epoch,val_loss,val_acc,val_acc\n1,0.9,0.1,0.2\n\n2,0.5,0.3\n3,x,0.4,0.6\n"


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "history.csv"
    path.write_text(TEXT)
    return path


def test_columns_rows_and_best_agree(history: Path) -> None:
    columns = read_history_columns(history)
    assert columns["epoch"] == [1.0, 2.0, 3.0]
    assert columns["val_acc"][0] == 0.2 and math.isnan(columns["val_acc"][1])
    rows = read_history_rows(history)
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert rows[1]["val_acc"] == "" and rows[2]["val_acc"] == "0.6"
    assert best_in_history(history, "val_loss", lower_is_better=True) == 0.5
    assert best_in_history(history, "val_acc", lower_is_better=False) == 0.6
    assert best_in_history(history, "val_f1", lower_is_better=False) is None


def test_a_missing_history_is_empty_and_an_unreadable_one_stops_a_resume(tmp_path: Path) -> None:
    missing = tmp_path / "history.csv"
    assert read_history_columns(missing) == {} and read_history_rows(missing) == []
    missing.mkdir()
    assert read_history_columns(missing) == {}
    with pytest.raises(ExperimentStateError, match="is a folder"):
        read_history_rows(missing)  # never rewritten from nothing


@pytest.mark.parametrize("epoch", ["two", "", "0", "-1", "1.5", "200001", "٣"])
def test_a_row_without_an_epoch_number_stops_a_resume(tmp_path: Path, epoch: str) -> None:
    """Which rows come before the resumed epoch (what training keeps, and what the plateau and
    early-stopping counts are fed) is read from the epoch column: a row without a number there
    stops the resume, named, rather than a traceback or a row silently kept or lost."""
    root = tmp_path / "exp"
    (root / "logs").mkdir(parents=True)
    path = root / "logs" / "history.csv"
    path.write_text(f"epoch,val_loss\n1,0.5\n{epoch},0.4\n")
    with pytest.raises(ExperimentStateError) as raised:
        read_history_rows(path)
    message = str(raised.value)
    assert f"row 2: epoch {epoch!r} is not an epoch number (1 to 200000)" in message
    assert message.startswith(str(path)) and f"--from {root}`" in message
