"""Live Rich progress for training (a Keras callback; imported only by ``train``).

Two forms of the epoch line, one per reader:

- **a terminal**: the compact line, one line at 80 columns, printed above the live bars:
  ``epoch 3/10 loss 0.412 acc 0.870 val_loss 0.455 val_acc 0.840 f1 0.810 12.3 s``;
- **a pipe or a log file** (``--quiet``, ``--on local``, Slurm): every number Keras logged,
  ``key=value`` on one line however long (a pipe is as wide as the line; nothing is wrapped).

``logs/history.csv`` keeps every number of every epoch whatever was printed.
"""

from __future__ import annotations

import time
from typing import Any

import keras
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from abyssexp.cli.console import err

#: The compact line's numbers: what Keras logs -> the short name shown.
COMPACT = (
    ("loss", "loss"),
    ("accuracy", "acc"),
    ("val_loss", "val_loss"),
    ("val_accuracy", "val_acc"),
    ("val_macro_f1", "f1"),
)
COLLAPSED = "same answer for every validation image"


def _collapsed(logs: dict[str, Any]) -> bool:
    return logs.get("val_distinct_predictions") in (1, 1.0)


def compact_epoch_line(
    epoch: int, epochs: int, logs: dict[str, Any], seconds: float, width: int = 80
) -> str:
    """``epoch 3/10 loss 0.412 acc 0.870 ... 12.3 s``: fits ``width`` (a number that does not
    fit is left out from the right, never cut), the epoch number always first."""
    line = f"epoch {epoch}/{epochs}"
    tail = f" {seconds:.1f} s"
    for key, short in COMPACT:
        if key in logs:
            part = f" {short} {float(logs[key]):.3f}"
            if len(line) + len(part) + len(tail) > width:
                break
            line += part
    line += tail
    if _collapsed(logs) and len(line) + 13 <= width:
        line += " (one answer)"
    return line


def full_epoch_line(epoch: int, epochs: int, logs: dict[str, Any], seconds: float) -> str:
    """Every number Keras logged for the epoch, ``key=value``, then its time: one line."""
    numbers = " ".join(f"{key}={float(value):.4g}" for key, value in logs.items())
    line = f"epoch {epoch}/{epochs} {numbers} {seconds:.1f} s"
    return line + (f" ({COLLAPSED})" if _collapsed(logs) else "")


class RichTrainingProgress(keras.callbacks.Callback):
    """An epoch bar and a step bar with loss and images/s on a terminal; one plain line per
    epoch otherwise (``quiet``)."""

    def __init__(self, batch_size: int, quiet: bool = False) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=quiet,
            transient=True,
        )
        self.epoch_task: Any = None
        self.step_task: Any = None
        self.epoch_started = time.monotonic()

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        params = self.params or {}
        self.epochs = params.get("epochs", 0)
        self.steps = params.get("steps")
        err.print(
            f"training {self.model.name}: {self.epochs} epochs of {self.steps} steps",
            soft_wrap=True,
        )
        self.progress.start()
        self.epoch_task = self.progress.add_task("epochs", total=self.epochs, info="")
        self.step_task = self.progress.add_task("steps", total=self.steps, info="")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch_started = time.monotonic()
        self.progress.update(self.epoch_task, completed=epoch)
        self.progress.reset(self.step_task, total=self.steps, description=f"epoch {epoch + 1}")

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        elapsed = max(time.monotonic() - self.epoch_started, 1e-9)
        rate = (batch + 1) * self.batch_size / elapsed
        loss = f"loss {float(logs['loss']):.3f} " if "loss" in logs else ""
        self.progress.update(self.step_task, completed=batch + 1, info=f"{loss}{rate:.0f} img/s")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        seconds = time.monotonic() - self.epoch_started
        self.progress.update(self.epoch_task, completed=epoch + 1)
        if self.quiet:
            line = full_epoch_line(epoch + 1, self.epochs, logs, seconds)
            err.print(line, soft_wrap=True, markup=False, highlight=False)
            return
        line = compact_epoch_line(epoch + 1, self.epochs, logs, seconds, err.width)
        self.progress.console.print(line, soft_wrap=True, markup=False, highlight=False)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.progress.stop()
