"""Live Rich progress for training and prediction (a Keras callback; imported only by train/test)."""

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


class RichTrainingProgress(keras.callbacks.Callback):
    """An epoch bar and a step bar with loss, metrics, images/s and ETA."""

    def __init__(self, batch_size: int, quiet: bool = False) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=quiet,
            transient=False,
        )
        self.epoch_task: Any = None
        self.step_task: Any = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        params = self.params or {}
        self.epochs = params.get("epochs", 0)
        self.steps = params.get("steps")
        err.print(f"training {self.model.name}: {self.epochs} epochs of {self.steps} steps")
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
        metrics = " ".join(f"{k}={float(v):.4f}" for k, v in logs.items())
        self.progress.update(
            self.step_task, completed=batch + 1, info=f"{metrics} {rate:.0f} img/s"
        )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        shown = {
            k: v
            for k, v in logs.items()
            if k in ("loss", "accuracy", "val_loss", "val_accuracy", "val_macro_f1", "lr")
        }
        info = " ".join(f"{k}={float(v):.4g}" for k, v in shown.items())
        if logs.get("val_distinct_predictions") == 1:
            info += " [yellow]same answer for every validation image[/]"
        self.progress.update(self.epoch_task, completed=epoch + 1, info=info)
        if self.quiet:
            err.print(f"epoch {epoch + 1}/{self.epochs} {info}")

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.progress.stop()
