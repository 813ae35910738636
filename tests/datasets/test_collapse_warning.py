"""A model that gives one answer for every validation image is named on the epoch line and in
the training summary."""

import io

from rich.console import Console

from abyssexp.training.run import _collapse_warning


def test_summary_warns_when_the_last_epoch_gave_one_answer() -> None:
    assert _collapse_warning([{"epoch": 1, "val_distinct_predictions": 2.0}]) == []
    (warning,) = _collapse_warning([{"epoch": 1, "val_distinct_predictions": 1.0}])
    assert "same answer for every validation image" in warning


def test_epoch_line_says_so(monkeypatch) -> None:
    from abyssexp.cli import progress

    buffer = io.StringIO()
    monkeypatch.setattr(progress, "err", Console(file=buffer, width=200))
    callback = progress.RichTrainingProgress(batch_size=8, quiet=True)
    callback.epochs = 3
    callback.epoch_task = callback.progress.add_task("epochs", total=3, info="")
    callback.on_epoch_end(0, {"loss": 0.1, "val_accuracy": 0.8, "val_distinct_predictions": 1.0})
    assert "same answer for every validation image" in buffer.getvalue()
