"""Keras callbacks that keep an experiment's files in order.

- ``ExperimentCheckpoint``: ``model_<epoch>.keras`` (every epoch, so a run can always resume from
  the last finished epoch; retention keeps every ``save_model_interval``-th and the last N),
  ``best.keras`` with its best-so-far value remembered across resumes (Keras' ModelCheckpoint
  forgets it and overwrites ``best``), ``history.csv`` without duplicate rows, ``train_state.json``
  and the experiment record. Every file is written atomically, ``train_state.json`` last.
- ``ValidationCurves``: per-class PR curves and TP/FP/TN/FN/precision/recall/F1 on the full
  validation set, for TensorBoard. Inference only: it never touches the weights or an RNG.
- ``LearningRateLogger``, ``Heartbeat``, ``RecomputeBatchNorm``, ``StopOnSignal``,
  ``StopOnDivergence`` (a NaN or infinite loss fails the run).
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from abyssexp.atomic import atomic_copy, atomic_path, atomic_write_text
from abyssexp.errors import TrainingDivergedError
from abyssexp.experiment.checkpoints import (
    checkpoint_name,
    epoch_checkpoints,
    prune_epoch_checkpoints,
    retained_epochs,
    write_train_state,
)
from abyssexp.experiment.history import read_history_rows
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.param_filters import flatten_params
from abyssexp.experiment.record_file import (
    promoted_checkpoints,
    read_record,
    record_epoch,
    record_heartbeat,
)
from abyssexp.experiment.summary_cache import refresh_summary
from abyssexp.metric_direction import keras_mode
from abyssexp.models.random_state import layer_random_states
from abyssexp.schemas.record import BestMetric
from abyssexp.schemas.resolve import params_to_json
from abyssexp.schemas.train_state import TrainState
from abyssexp.training.inputs import TrainingInputs
from abyssexp.training.plan import TrainingPlan
from abyssexp.training.stopping import learning_rate_and_stopping
from abyssexp.training.validation_scores import ValidationScores

HEARTBEAT_S = 30.0


def is_better(value: float, best: float | None, mode: str) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    return value < best if mode == "min" else value > best


def write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k)) for k in columns})
    atomic_write_text(path, buffer.getvalue())


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else value


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the current learning rate to the epoch logs (history.csv and TensorBoard)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class ExperimentCheckpoint(keras.callbacks.Callback):
    def __init__(
        self,
        paths: ExperimentPaths,
        monitor: str,
        interval: int = 1,
        keep: int | None = 3,
        fmt: str = "keras",
        best_value: float | None = None,
        best_epoch: int | None = None,
        history_rows: list[dict[str, Any]] | None = None,
        epochs_total: int | None = None,
        protected: Callable[[], set[str]] | None = None,
    ) -> None:
        super().__init__()
        self.paths = paths
        self.monitor = monitor
        self.mode = keras_mode(monitor)
        self.interval = interval
        self.keep = keep
        self.fmt = fmt
        self.best_value = best_value
        self.best_epoch = best_epoch
        self.rows: list[dict[str, Any]] = list(history_rows or [])
        self.epochs_total = epochs_total
        self.protected = protected or (lambda: set())
        self.last_epoch: int | None = None

    def _save(self, target: Path) -> None:
        with atomic_path(target) as tmp:
            self.model.save(tmp)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = dict(logs or {})
        number = epoch + 1
        checkpoint = self.paths.checkpoint(number)
        self._save(checkpoint)
        if self.fmt == "h5" and number % self.interval == 0:
            self._save(self.paths.models / checkpoint_name(number, ".h5"))
        value = logs.get(self.monitor)
        if value is not None and is_better(float(value), self.best_value, self.mode):
            self.best_value, self.best_epoch = float(value), number
            atomic_copy(checkpoint, self.paths.best_checkpoint)
        self.rows = [r for r in self.rows if int(r["epoch"]) < number]
        self.rows.append({"epoch": number, **{k: float(v) for k, v in logs.items()}})
        write_history(self.paths.history, self.rows)
        refresh_summary(self.paths)  # what `compare` reads from the history
        state = TrainState(
            epoch=number,
            checkpoint=checkpoint.name,
            monitor=self.monitor,
            mode=self.mode,
            best_value=self.best_value,
            best_epoch=self.best_epoch,
            time=time.time(),
            # After validation (whose batch-norm recompute draws too): where the next epoch's
            # dropout and in-model augmentation continue.
            layer_random_states=layer_random_states(self.model),
        )
        write_train_state(self.paths, state)
        best = BestMetric(metric=self.monitor, value=self.best_value, epoch=self.best_epoch)
        record_epoch(
            self.paths.record,
            epochs_done=number,
            epochs_total=self.epochs_total,
            best=best if self.best_value is not None else None,
            last_metrics={k: float(v) for k, v in logs.items()},
        )
        self.last_epoch = number
        self._retention(number)

    def _retention(self, newest: int) -> None:
        """Keep the newest checkpoint (for resume), every interval-th of the last N, and best."""
        epochs = [epoch for epoch, _ in epoch_checkpoints(self.paths.models)]
        keep = retained_epochs(epochs, newest, self.interval, self.keep)
        prune_epoch_checkpoints(self.paths, keep, protected=self.protected())


class ValidationCurves(keras.callbacks.Callback):
    """Per-class PR curves and TP/FP/TN/FN/precision/recall/F1 on the whole validation set."""

    def __init__(
        self,
        dataset: tf.data.Dataset,
        targets: np.ndarray,
        class_names: list[str],
        log_dir: Path,
        activation: str,
        pr_curves: bool = True,
        tfpn: bool = True,
        thresholds: int = 101,
        full_pass: bool = True,
    ) -> None:
        super().__init__()
        self.dataset = dataset
        # Keras' validation pass gives the scores; a second predict only where it cannot.
        self.capture = ValidationScores(len(targets), full_pass)
        self.targets = targets > 0
        self.class_names = class_names
        self.activation = activation
        self.pr_curves = pr_curves
        self.tfpn = tfpn
        self.thresholds = thresholds
        self.writer = tf.summary.create_file_writer(str(log_dir))

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.capture.install(self.model)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.capture.uninstall()

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.capture.reset()

    def _scores(self) -> np.ndarray:
        """The scores of this epoch's validation pass; predicted again only when not captured."""
        scores = self.capture.scores()
        if scores is None:
            scores = self.model.predict(self.dataset, verbose=0)[: len(self.targets)]
        return scores

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        from tensorboard.plugins.pr_curve import summary as pr_summary

        from abyssexp.evaluation.metrics import confusion_counts, predicted_labels

        scores = self._scores()
        predicted = predicted_labels(scores, self.activation)
        counts = confusion_counts(self.targets, predicted)
        f1s = []
        for c, name in enumerate(self.class_names):
            tp, fp, tn, fn = (int(counts[key][c]) for key in ("tp", "fp", "tn", "fn"))
            precision = tp / (tp + fp) if tp + fp else 0.0
            recall = tp / (tp + fn) if tp + fn else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            f1s.append(f1)
            if self.writer is None:
                continue
            # Keras' TensorBoard callback writes epoch scalars at step ``epoch``: the same axis.
            with self.writer.as_default(step=epoch):
                if self.tfpn:
                    for key, value in (
                        ("tp", tp),
                        ("fp", fp),
                        ("tn", tn),
                        ("fn", fn),
                        ("precision", precision),
                        ("recall", recall),
                        ("f1", f1),
                    ):
                        tf.summary.scalar(f"class/{name}/{key}", value)
                if self.pr_curves:
                    proto = pr_summary.pb(
                        f"pr_curve/{name}",
                        labels=self.targets[:, c],
                        predictions=np.clip(scores[:, c].astype(np.float64), 0.0, 1.0),
                        num_thresholds=self.thresholds,
                    )
                    tf.summary.experimental.write_raw_pb(proto.SerializeToString(), step=epoch)
        if self.writer is not None:
            self.writer.flush()
        if logs is not None:
            from abyssexp.evaluation.metrics import distinct_predictions

            logs["val_macro_f1"] = float(np.mean(f1s)) if f1s else 0.0
            # 1: the same answer for every validation image (shown on the epoch line)
            logs["val_distinct_predictions"] = float(distinct_predictions(predicted))


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback without our ``lr`` log: it writes ``learning_rate`` itself."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        super().on_epoch_end(epoch, {k: v for k, v in (logs or {}).items() if k != "lr"})


class HParamsSummary(keras.callbacks.Callback):
    """The HParams tab: the flattened params when training starts, the final metrics (as
    ``hparams/<metric>`` scalars) when it ends, so ``tensorboard --logdir <scratch>/<project>``
    compares every experiment of a project."""

    def __init__(self, log_dir: Path, params: dict[str, Any], trial_id: str) -> None:
        super().__init__()
        self.log_dir, self.trial_id = log_dir, trial_id
        self.hparams = {k: _hparam_value(v) for k, v in params.items()}
        self.last: tuple[int, dict[str, Any]] | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        from tensorboard.plugins.hparams import api as hp

        self.writer = tf.summary.create_file_writer(str(self.log_dir))
        with self.writer.as_default():
            hp.hparams(self.hparams, trial_id=self.trial_id)
        self.writer.flush()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.last = (epoch, dict(logs or {}))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.last is None:
            return
        epoch, metrics = self.last
        with self.writer.as_default(step=epoch):
            for key, value in metrics.items():
                tf.summary.scalar(f"hparams/{key}", float(value))
        self.writer.flush()


def _hparam_value(value: Any) -> bool | int | float | str:
    """HParams take booleans, numbers and strings; lists, dicts and None become JSON text."""
    import json

    return value if isinstance(value, bool | int | float | str) else json.dumps(value)


class Heartbeat(keras.callbacks.Callback):
    """Refreshes the record's heartbeat so ``list`` can tell a live run from a crashed one."""

    def __init__(self, record_path: Path, every_s: float = HEARTBEAT_S) -> None:
        super().__init__()
        self.record_path = record_path
        self.every_s = every_s
        self.last = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if time.monotonic() - self.last >= self.every_s:
            self.last = time.monotonic()
            record_heartbeat(self.record_path)


class TrainingInterrupted(Exception):
    """Raised inside ``fit`` by ``StopOnSignal``: the epoch under way is abandoned, never recorded."""


class StopOnDivergence(keras.callbacks.Callback):
    """Ends the run as failed when the training loss becomes NaN or infinite.

    Keras' ``TerminateOnNaN`` printed a line of its own and let the epoch finish: its
    validation, a checkpoint of the diverged weights and a history row were written, and the run
    ended ``completed``. Raising at the batch keeps the epoch out of every file, as a signal
    does, and says what happened and what to change.
    """

    def __init__(self, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDivergedError(
                f"the training loss became {float(loss)} in epoch {self.epoch + 1}, batch "
                f"{batch + 1}: the run diverged; its finished epochs are kept, this one is not. "
                f"Lower training.lr (it is {self.lr:g}) or check the data (abyssexp data check)"
            )


class StopOnSignal(keras.callbacks.Callback):
    """Ends ``fit`` after the current batch once ``flag["stop"]`` is set by a signal handler.

    It raises rather than setting ``model.stop_training``: with the latter Keras would still
    validate the partial epoch and call every ``on_epoch_end``, so a partial epoch would get a
    history row, a checkpoint and perhaps ``best.keras``, and ``--resume`` would start after it.
    """

    def __init__(self, flag: dict[str, Any]) -> None:
        super().__init__()
        self.flag = flag

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.flag.get("stop"):
            raise TrainingInterrupted(self.flag.get("signal"))

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.on_train_batch_end(batch, logs)


def batch_norm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(batch_norm_layers(layer))
        elif isinstance(layer, keras.layers.BatchNormalization) and layer.trainable:
            found.append(layer)
    return found


class RecomputeBatchNorm(keras.callbacks.Callback):
    """Before each validation, recompute exact batch-norm statistics as the plain average over
    ``batches`` training batches (momentum 1 - 1/k on batch k), then restore the momentum.

    Epoch ``e``'s batches are a function of the epoch alone: the ``batches`` that follow the
    first ``(e - first_epoch) * batches`` of a reader of the training stream of their own. A
    resumed run, or the second ``fit`` of two-phase fine-tuning, starts that reader where an
    uninterrupted run's would be, so its validation sees the same statistics.

    Args:
        stream: ``stream(n)`` is a new reader of the training stream from its ``n``-th batch.
        batches: batches averaged before each validation.
        first_epoch: the epoch whose recompute reads the stream's first batches
            (``training.init_epoch``).
    """

    def __init__(
        self, stream: Callable[[int], tf.data.Dataset], batches: int, first_epoch: int
    ) -> None:
        super().__init__()
        self.stream = stream
        self.batches = batches
        self.first_epoch = first_epoch
        self._epoch: int | None = None  # the epoch under way in fit; None outside fit
        self._iterator: Any = None
        self._positioned_for: int | None = None  # the epoch the iterator's next batches serve

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._epoch = None

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._epoch is None or self.batches <= 0:
            return
        if self._positioned_for != self._epoch:  # the run's (or this fit's) first validation
            done = (self._epoch - self.first_epoch) * self.batches
            self._iterator = iter(self.stream(done))
        layers = batch_norm_layers(self.model)
        saved = [layer.momentum for layer in layers]
        for k in range(1, self.batches + 1):
            images, _ = next(self._iterator)
            for layer in layers:
                layer.momentum = 1.0 - 1.0 / k
            self.model(images, training=True)
        for layer, momentum in zip(layers, saved, strict=True):
            layer.momentum = momentum
        self._positioned_for = self._epoch + 1


def make_callbacks(
    plan: TrainingPlan,
    model: keras.Model,
    inputs: TrainingInputs,
    stop_flag: dict[str, Any],
    extra: Sequence[keras.callbacks.Callback] = (),
) -> tuple[list[keras.callbacks.Callback], ExperimentCheckpoint]:
    """Every callback of a run, in the order they must run; also the checkpoint callback, whose
    ``last_epoch`` and best value make the run's result."""
    paths, params = plan.paths, plan.params
    resume = plan.resume
    promoted = promoted_checkpoints(read_record(paths.record))
    history_rows = read_history_rows(paths.history) if resume else []
    checkpoint = ExperimentCheckpoint(
        paths,
        monitor=plan.monitor,
        interval=params.training.save_model_interval,
        keep=params.training.keep_checkpoints,
        fmt=params.training.checkpoint_format,
        best_value=resume.best_value if resume else None,
        best_epoch=resume.best_epoch if resume else None,
        history_rows=history_rows,
        epochs_total=plan.epochs_total,
        protected=lambda: promoted,
    )
    callbacks: list[Any] = [LearningRateLogger(), StopOnDivergence(params.training.lr)]
    if params.training.ema:
        # First, so validation, the PR curves and every checkpoint see the averaged weights.
        swap = keras.callbacks.SwapEMAWeights(swap_on_epoch=True)
        # A resumed checkpoint holds the averaged weights (its optimizer the raw ones): the
        # first epoch must swap them back, as after any epoch of an uninterrupted run.
        swap._ema_weights_in_model = resume is not None
        callbacks.insert(0, swap)
    if params.training.bn_recompute_batches:
        callbacks.append(
            RecomputeBatchNorm(
                inputs.fresh_train,
                params.training.bn_recompute_batches,
                first_epoch=params.training.init_epoch,
            )
        )
    curves = params.callbacks.pr_curves or params.callbacks.tfpn or plan.monitor == "val_macro_f1"
    if inputs.validation is not None and plan.val_set is not None and curves:
        callbacks.append(
            ValidationCurves(
                inputs.validation,
                plan.val_set.multihot(),
                plan.labels.class_names,
                paths.logs / "validation_metrics",
                params.model.output_activation,
                pr_curves=params.callbacks.pr_curves,
                tfpn=params.callbacks.tfpn,
                thresholds=params.callbacks.pr_curve_thresholds,
                full_pass=_validation_covers_set(plan, inputs),
            )
        )
    callbacks.append(checkpoint)
    callbacks.append(
        EpochTensorBoard(
            log_dir=str(paths.logs),
            histogram_freq=params.callbacks.histogram_freq,
            write_graph=False,
            update_freq="epoch",
        )
    )
    flat = flatten_params(params_to_json(params))
    callbacks.append(HParamsSummary(paths.logs, flat, f"{paths.root.parent.name}/{paths.name}"))
    callbacks.append(Heartbeat(paths.record))
    if params.callbacks.log_images and params.augmentation.enabled and resume is None:
        log_training_images(paths, inputs.fresh_train(), model, params.callbacks.log_images)
    callbacks.extend(learning_rate_and_stopping(plan, history_rows, model))
    callbacks.append(StopOnSignal(stop_flag))
    from abyssexp.training.pruning import pruning_callback

    pruning = pruning_callback(paths, stop_flag)  # only for a trial of an Optuna sweep
    callbacks.extend([pruning] if pruning is not None else [])
    callbacks.extend(extra)
    return callbacks, checkpoint


def _validation_covers_set(plan: TrainingPlan, inputs: TrainingInputs) -> bool:
    """Whether fit's validation pass reads every validation image (its scores can be reused)."""
    steps = inputs.validation_steps or 0
    return plan.val_set is not None and steps * plan.params.training.batch_size >= len(plan.val_set)


def log_training_images(
    paths: ExperimentPaths, train_ds: tf.data.Dataset, model: keras.Model, count: int
) -> None:
    """A handful of (augmented) training images in TensorBoard, once."""
    images, _ = next(iter(train_ds.take(1)))
    images = tf.cast(images[:count], tf.float32)  # uint8 unless augmented: as the model casts
    try:
        layer = model.get_layer("augmentation")
        images = layer(images, training=True)
    except ValueError:
        pass
    writer = tf.summary.create_file_writer(str(paths.logs / "images"))
    with writer.as_default(step=0):
        tf.summary.image(
            "augmented_training_images", tf.cast(images, tf.float32) / 255.0, max_outputs=count
        )
    writer.flush()
