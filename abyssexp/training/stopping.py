"""The learning-rate plateau and early stopping, continued across a resume.

Keras' ``ReduceLROnPlateau`` and ``EarlyStopping`` count the epochs since the monitor last
improved, and forget the count at every ``fit``'s start. A resumed run is a new ``fit``: with
Keras' callbacks as they are, it would start counting from nothing, so its learning rate would
drop (and the run stop) epochs later than in the uninterrupted run, and the histories part.

So here each callback is given, on resume, the finished epochs of the phase the run resumes in
(``history.csv``'s monitor and ``lr`` columns) and feeds them to Keras' own ``on_epoch_end`` at
the start of the first ``fit``, the learning rate set to each epoch's: the counts, the best value,
and a reduction decided at the last finished epoch (the checkpoint was saved before it) are then
those of the uninterrupted run. A later phase's ``fit`` starts afresh, as it does uninterrupted.

Known limit: a run killed (not stopped by a signal, which ends it cleanly) in the instant between
writing an epoch and early stopping's decision after it resumes into one more batch before
``fit`` sees the decision; the uninterrupted run would have ended there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import keras

from abyssexp.metric_direction import keras_mode
from abyssexp.training.phases import first_epoch_of_phase
from abyssexp.training.plan import TrainingPlan


class PastEpoch(NamedTuple):
    """A finished epoch as ``history.csv`` holds it: Keras' epoch (from 0), the monitor's
    value and the learning rate the epoch trained with (None where the row has none)."""

    epoch: int
    value: float
    lr: float | None


def past_epochs(
    plan: TrainingPlan, rows: Sequence[Mapping[str, Any]], monitor: str
) -> list[PastEpoch]:
    """The finished epochs of the phase a resumed run starts in, with a value of ``monitor``
    (an epoch without one counted for neither callback); empty for a new run."""
    if plan.resume is None:
        return []
    first, start = first_epoch_of_phase(plan), plan.initial_epoch
    found = []
    for row in rows:
        index = int(row["epoch"]) - 1  # history.csv numbers epochs from 1
        value, lr = _number(row.get(monitor)), _number(row.get("lr"))
        if first <= index < start and value is not None:
            found.append(PastEpoch(index, value, lr))
    return found


def _number(text: Any) -> float | None:
    """A history.csv value: None when the epoch did not log it; NaN when it is not a number
    (``experiment.history``'s rule), which the callbacks count as no improvement."""
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return math.nan


class ResumedPlateau(keras.callbacks.ReduceLROnPlateau):
    """``ReduceLROnPlateau`` that counts a resumed phase's finished epochs too."""

    def __init__(self, past: Sequence[PastEpoch] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.past = list(past)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        past, self.past = self.past, []  # the next phase's fit starts afresh
        for finished in past:
            if finished.lr is not None:
                self.model.optimizer.learning_rate = finished.lr
            self.on_epoch_end(finished.epoch, {self.monitor: finished.value})


class ResumedEarlyStopping(keras.callbacks.EarlyStopping):
    """``EarlyStopping`` that counts a resumed phase's finished epochs too."""

    def __init__(self, past: Sequence[PastEpoch] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.past = list(past)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        past, self.past = self.past, []
        for finished in past:
            self.on_epoch_end(finished.epoch, {self.monitor: finished.value})


def learning_rate_and_stopping(
    plan: TrainingPlan, rows: Sequence[Mapping[str, Any]]
) -> list[keras.callbacks.Callback]:
    """ReduceLROnPlateau and EarlyStopping, when the params ask for them, continuing the counts
    of ``rows`` (``history.csv``'s, when the run resumes)."""
    training, monitor = plan.params.training, plan.monitor
    plateau = plan.params.callbacks.reduce_lr_on_plateau
    past = past_epochs(plan, rows, monitor)
    found: list[keras.callbacks.Callback] = []
    if training.lr_schedule == "plateau" or plateau.enabled:
        schedule_params = dict(training.lr_schedule_params)
        found.append(
            ResumedPlateau(
                past,
                monitor=monitor,
                mode=keras_mode(monitor),
                factor=float(schedule_params.get("factor", plateau.factor)),
                patience=int(schedule_params.get("patience", plateau.patience)),
                min_lr=float(schedule_params.get("min_lr", plateau.min_lr)),
            )
        )
    if training.early_stopping_patience:
        found.append(
            ResumedEarlyStopping(
                past,
                monitor=monitor,
                patience=training.early_stopping_patience,
                mode=keras_mode(monitor),
            )
        )
    return found
