"""The epoch line on an 80-column terminal: one line, the epoch number first, the numbers
people watch; in a pipe every number on one line (tests/cli/test_quiet.py runs that for real)."""

from __future__ import annotations

import io
import re

from rich.console import Console

LOGS = {
    "accuracy": 0.8712,
    "loss": 0.41234,
    "val_accuracy": 0.8401,
    "val_loss": 0.45512,
    "lr": 0.001,
    "val_macro_f1": 0.8123,
    "val_distinct_predictions": 3.0,
}


def _terminal_run(monkeypatch, width: int) -> str:
    """A training progress on a colour terminal ``width`` wide, through three epochs."""
    from abyssexp.cli import progress

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=True, color_system=None)
    monkeypatch.setattr(progress, "err", console)
    callback = progress.RichTrainingProgress(batch_size=8, quiet=False)
    callback.epochs, callback.steps = 10, 4
    callback.progress.start()
    callback.epoch_task = callback.progress.add_task("epochs", total=10, info="")
    callback.step_task = callback.progress.add_task("steps", total=4, info="")
    for epoch in range(3):
        callback.on_epoch_begin(epoch)
        for batch in range(4):
            callback.on_train_batch_end(batch, {"loss": 0.5, "accuracy": 0.8})
        callback.on_epoch_end(epoch, LOGS)
    callback.on_train_end()
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())


def test_an_epoch_is_one_line_at_80_columns_with_its_number_first(monkeypatch) -> None:
    text = _terminal_run(monkeypatch, 80)
    lines = [line.strip() for line in re.split(r"[\r\n]", text) if line.strip()]
    epochs = [line for line in lines if line.startswith("epoch 3/10 ")]
    assert epochs, text
    line = epochs[0]
    assert len(line) <= 80, line
    for part in ("loss 0.412", "acc 0.871", "val_loss 0.455", "val_acc 0.840", "f1 0.812"):
        assert part in line, line
    assert re.search(r"\d+\.\d s$", line), line
    assert "…" not in text


def test_the_compact_line_leaves_numbers_out_rather_than_cut_them() -> None:
    from abyssexp.cli.progress import compact_epoch_line, full_epoch_line

    narrow = compact_epoch_line(12, 100, LOGS, 123.4, width=40)
    assert narrow.startswith("epoch 12/100 ") and narrow.endswith(" 123.4 s")
    assert len(narrow) <= 40 and "…" not in narrow
    full = full_epoch_line(3, 10, LOGS, 12.3)
    for key in LOGS:
        assert f"{key}=" in full
    assert "\n" not in full and len(full) > 80
