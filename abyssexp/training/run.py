"""``abyssexp train``: run a ``TrainingPlan`` to checkpoints, logs and a finished record.

Order matters: the plan (params, start state, data) is checked before anything is written; the
experiment is locked before TensorFlow builds anything; status goes to ``running`` only once the
run can really start; whatever happens after that ends in ``completed``, ``interrupted``
(SIGINT/SIGTERM: a recovery checkpoint is saved), ``pruned`` (an Optuna sweep's pruner stopped
the trial) or ``failed`` (with the error), never a silent ``running``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abyssexp.atomic import atomic_path, atomic_write_text
from abyssexp.errors import AbyssExpError, ExperimentStateError
from abyssexp.experiment.layout import ExperimentPaths, disk_usage
from abyssexp.experiment.provenance import collect_in_background
from abyssexp.experiment.record_file import (
    mark_completed,
    mark_failed,
    mark_interrupted,
    mark_pruned,
    mark_running,
    read_record,
)
from abyssexp.frame_stack import call_with_room
from abyssexp.locks import release_lock, try_lock
from abyssexp.schemas.record import Status
from abyssexp.training.heldout import save_heldout_after_training
from abyssexp.training.plan import TrainingPlan, TrainOptions, plan_training, start_state
from abyssexp.training.signals import install_signal_handlers, restore_signal_handlers
from abyssexp.training.start_files import run_command_line, write_run_files

if TYPE_CHECKING:
    from abyssexp.schemas.params import TrainingParams
    from abyssexp.training.inputs import TrainingInputs

__all__ = ["TrainOptions", "TrainResult", "plan_training", "train_experiment"]


@dataclass
class TrainResult:
    """What a run did: epochs, the best value, time, throughput and where the files are."""

    path: Path
    status: str
    epochs_done: int
    epochs_total: int
    best_metric: str
    best_value: float | None
    best_epoch: int | None
    seconds: float
    images_per_second: float | None
    #: Every ``train`` of the experiment together (a resumed run adds to the earlier ones).
    total_seconds: float | None = None
    total_images_per_second: float | None = None
    files: dict[str, str] = field(default_factory=dict)
    #: Things the summary must say (a model that gives one answer for every validation image).
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def train_experiment(plan: TrainingPlan, extra_callbacks: Sequence[Any] = ()) -> TrainResult:
    """Run a training plan under the experiment's lock.

    Args:
        plan: from ``plan_training``.
        extra_callbacks: Keras callbacks added last (the command line's progress display).

    Returns:
        The result; ``status`` is ``completed`` or ``interrupted``.

    Raises:
        ExperimentStateError: another process is training this experiment, or the start state
            changed since the plan was made.
        AbyssExpError: anything the run refuses; the record says ``failed`` once it had started.
    """
    paths = plan.paths
    lock_fd = try_lock(paths.train_lock)
    if lock_fd is None:
        record = read_record(paths.record)
        who = (
            f"pid {record.pid} on {record.host}"
            if record.pid and record.status == Status.RUNNING
            else "another abyssexp process is starting it"
        )
        raise ExperimentStateError(
            f"{paths.root}: already running ({who}); wait for it or stop it first"
        )
    try:
        if start_state(paths, plan.params, plan.options.resume) != plan.resume:
            raise ExperimentStateError(
                f"{paths.root}: its checkpoints changed while the run was planned; try again"
            )
        return call_with_room(_train_locked, plan, extra_callbacks)  # tracing maps no chunks
    finally:
        release_lock(lock_fd)


def _train_locked(plan: TrainingPlan, extra_callbacks: Sequence[Any]) -> TrainResult:
    """Build everything, then mark the record ``running`` and fit. A start refused while
    building (optimizer, model, weights) leaves the record as it was."""
    from abyssexp.models.compile_options import check_optimizer
    from abyssexp.training.callbacks import make_callbacks
    from abyssexp.training.inputs import build_inputs

    paths = plan.paths
    check_optimizer(plan.params.training.optimizer, dict(plan.params.training.optimizer_args))
    provenance = collect_in_background(run_command_line(plan))  # while the model is built
    _seed_and_precision(plan.params.training)
    inputs = build_inputs(plan)
    model = _model_for(plan, inputs)
    stop_flag: dict[str, Any] = {}
    callbacks, checkpoint = make_callbacks(plan, model, inputs, stop_flag, extra_callbacks)
    write_run_files(plan, provenance)
    mark_running(paths.record, plan.epochs_total)
    previous_handlers = install_signal_handlers(stop_flag)
    started = time.monotonic()
    try:
        interrupted = _fit(plan, model, inputs, callbacks)
        seconds = time.monotonic() - started
        result = _result(plan, checkpoint, inputs, seconds)
        _add_up(plan, result, inputs)
        if stop_flag.get("prune_reason") and not interrupted:  # an Optuna sweep's pruner stopped it
            mark_pruned(paths.record, stop_flag["prune_reason"])
            result.status = Status.PRUNED.value
            return result
        cut = stop_flag.get("stop") and not model.stop_training  # early stopping ended it whole
        if interrupted or (cut and result.epochs_done < plan.epochs_total):
            with atomic_path(paths.recovery_checkpoint) as tmp:
                model.save(tmp)
            mark_interrupted(paths.record, f"stopped by {stop_flag.get('signal')}")
            result.status = Status.INTERRUPTED.value
            return result
        if inputs.validation is not None and plan.val_set is not None:
            from abyssexp.evaluation.thresholds import save_validation_thresholds

            save_validation_thresholds(
                paths.best_checkpoint,
                inputs.validation,
                plan.val_set.multihot() > 0,
                plan.labels.class_names,
                plan.params,
            )
        mark_completed(paths.record, disk_bytes=disk_usage(paths.root))
        result.status = Status.COMPLETED.value
        result.warnings += save_heldout_after_training(paths)
        return result
    except KeyboardInterrupt:
        mark_interrupted(paths.record, "stopped at once (KeyboardInterrupt)")
        raise
    except BaseException as exc:
        message = str(exc) if isinstance(exc, AbyssExpError) else f"{type(exc).__name__}: {exc}"
        mark_failed(paths.record, message)
        raise
    finally:
        restore_signal_handlers(previous_handlers)


def _seed_and_precision(training: TrainingParams) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(training.seed)
    if training.deterministic:
        tf.config.experimental.enable_op_determinism()
    if training.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")


def _fit(plan: TrainingPlan, model: Any, inputs: TrainingInputs, callbacks: list[Any]) -> bool:
    """``model.fit`` over the planned epochs, phase by phase; True when a signal cut it."""
    from abyssexp.errors import TrainingDivergedError
    from abyssexp.models.compiling import build_optimizer
    from abyssexp.training.callbacks import TrainingInterrupted
    from abyssexp.training.phases import plan_phases

    try:
        for phase in plan_phases(plan, model, inputs):
            if phase.prepare is not None:
                phase.prepare()
            build_optimizer(model)
            model.fit(
                inputs.train_at(phase.start),
                epochs=phase.end,
                initial_epoch=phase.start,
                steps_per_epoch=inputs.steps_per_epoch,
                validation_data=inputs.validation,
                validation_steps=inputs.validation_steps,
                callbacks=callbacks,
                verbose=0,
                shuffle=False,  # the pipeline shuffles, seeded, every epoch
            )
            if model.stop_training:  # early stopping ends the run, not just the phase
                break
    except (TrainingInterrupted, TrainingDivergedError) as cut:
        for callback in callbacks:  # fit ended early: let TensorBoard close its writers
            callback.on_train_end()
        if isinstance(cut, TrainingDivergedError):
            raise  # marked failed, with its message
        return True
    return False


def _result(plan: TrainingPlan, checkpoint: Any, inputs: Any, seconds: float) -> TrainResult:
    done = checkpoint.last_epoch or plan.initial_epoch
    trained = done - plan.initial_epoch
    images = _images_trained(plan, trained, inputs)
    return TrainResult(
        path=plan.paths.root,
        status=Status.RUNNING.value,
        epochs_done=done,
        epochs_total=plan.epochs_total,
        best_metric=plan.monitor,
        best_value=checkpoint.best_value,
        best_epoch=checkpoint.best_epoch,
        seconds=seconds,
        images_per_second=images / seconds if seconds and trained else None,
        files=_result_files(plan.paths, done),
        warnings=_collapse_warning(checkpoint.rows),
    )


def _images_trained(plan: TrainingPlan, epochs: int, inputs: TrainingInputs) -> int:
    return epochs * inputs.steps_per_epoch * plan.params.training.batch_size


def _add_up(plan: TrainingPlan, result: TrainResult, inputs: TrainingInputs) -> None:
    """Add this invocation to the record's totals and give the result the totals."""
    from abyssexp.experiment.record_file import add_training_time

    images = _images_trained(plan, result.epochs_done - plan.initial_epoch, inputs)
    record = add_training_time(plan.paths.record, result.seconds, images)
    result.total_seconds = record.train_seconds
    if record.train_seconds and record.train_images:
        result.total_images_per_second = record.train_images / record.train_seconds


def _collapse_warning(rows: list[dict[str, Any]]) -> list[str]:
    """A warning when the last epoch gave one answer for every validation image."""
    if not rows or rows[-1].get("val_distinct_predictions") not in (1, 1.0, "1.0"):
        return []
    from abyssexp.experiment.caveats import constant_model_warning

    return [constant_model_warning("validation image in the last epoch")]


def _model_for(plan: TrainingPlan, inputs: TrainingInputs) -> Any:
    """A new model, compiled once for its first phase; or the resumed checkpoint, compiled."""
    from abyssexp.models.distribute import make_strategy
    from abyssexp.models.factory import create_classifier
    from abyssexp.training.phases import compile_for_start, resumed_model

    strategy = make_strategy(plan.params.training.gpus)
    with strategy.scope():
        if plan.resume is not None:
            return resumed_model(plan, plan.resume)
        model = create_classifier(
            plan.params,
            plan.labels.class_names,
            num_classes=plan.labels.num_classes,
            class_weights=inputs.class_weights,
            augmentation=inputs.model_augmentation,
            strategy=strategy,
        )
        compile_for_start(plan, model, inputs)
    atomic_write_text(plan.paths.model_definition, model.to_json(indent=2))
    return model


def _result_files(paths: ExperimentPaths, done: int) -> dict[str, str]:
    return {
        "best": str(paths.best_checkpoint),
        "last": str(paths.checkpoint(done)) if done else "",
        "history": str(paths.history),
        "tensorboard": str(paths.logs),
    }
