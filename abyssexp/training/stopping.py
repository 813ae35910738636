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

A run that early stopping ended is resumed on purpose (``--resume`` with more epochs): the stop
its past decides is dropped, and it gets a new window of patience with its best value kept (the
run killed in the instant between an epoch's files and that decision is resumed the same way).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import keras

from abyssexp.errors import InvalidInputError
from abyssexp.metric_direction import keras_mode
from abyssexp.training.phases import first_epoch_of_phase, resumes_with_saved_optimizer
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


class _FedThePast:
    """What both callbacks share: the finished epochs to feed, given once (to the first
    ``fit``; the next phase's starts afresh, as it does uninterrupted)."""

    def __init__(self, past: Sequence[PastEpoch] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.past = list(past)

    def _take_past(self) -> list[PastEpoch]:
        past, self.past = self.past, []
        return past


class ResumedPlateau(_FedThePast, keras.callbacks.ReduceLROnPlateau):
    """``ReduceLROnPlateau`` that counts a resumed phase's finished epochs too."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        past = self._take_past()
        optimizer = self.model.optimizer
        saved = float(keras.ops.convert_to_numpy(optimizer.learning_rate))  # the checkpoint's
        for finished in past:
            # A row without a rate (not written by abyssexp) trains at the checkpoint's: only
            # the last row's decision reaches the optimizer, and that is the rate it holds.
            known = finished.lr is not None and math.isfinite(finished.lr)
            optimizer.learning_rate = finished.lr if known else saved
            self.on_epoch_end(finished.epoch, {self.monitor: finished.value})


class ResumedEarlyStopping(_FedThePast, keras.callbacks.EarlyStopping):
    """``EarlyStopping`` that counts a resumed phase's finished epochs too."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        for finished in self._take_past():
            self.on_epoch_end(finished.epoch, {self.monitor: finished.value})
            if self.model.stop_training:  # it stopped the run here, and the run went on (or
                self.model.stop_training = False  # goes on now): resumed for more, on purpose
                self.wait, self.stopped_epoch = 0, 0


def settable_rate(model: keras.Model) -> bool:
    """Whether the model's optimizer holds a rate a callback can set (not a schedule: Keras
    raises on setting one). Read from its config, the public view of it."""
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)  # mixed precision
    return not isinstance(optimizer.get_config().get("learning_rate"), dict)


def learning_rate_and_stopping(
    plan: TrainingPlan, rows: Sequence[Mapping[str, Any]], model: keras.Model
) -> list[keras.callbacks.Callback]:
    """ReduceLROnPlateau and EarlyStopping, when the params ask for them, continuing the counts
    of ``rows`` (``history.csv``'s, when the run resumes).

    Raises:
        InvalidInputError: a plateau is asked of a resumed run whose checkpoint's optimizer
            follows a schedule (the params changed since it was trained).
    """
    training, monitor = plan.params.training, plan.monitor
    plateau = plan.params.callbacks.reduce_lr_on_plateau
    past = past_epochs(plan, rows, monitor)
    found: list[keras.callbacks.Callback] = []
    if training.lr_schedule == "plateau" or plateau.enabled:
        if resumes_with_saved_optimizer(plan) and not settable_rate(model):
            raise InvalidInputError(
                f"{plan.paths.root}: its checkpoint's optimizer follows a learning-rate schedule "
                f"(a schedule or a warm-up when it was trained), which a plateau cannot set; "
                f"resume without the plateau, or start a new experiment with "
                f"`abyssexp new ... --from {plan.paths.root}`"
            )
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
