"""``abyssexp train``: from an experiment's params to checkpoints, logs and a finished record.

Order matters: params and data are validated and the experiment locked before TensorFlow builds
anything; status goes to ``running`` only once the run can really start; whatever happens after
that ends in ``completed``, ``interrupted`` (SIGINT/SIGTERM: a recovery checkpoint is saved) or
``failed`` (with the error), never a silent ``running``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abyssexp.atomic import atomic_path, atomic_write_json, atomic_write_text
from abyssexp.errors import AbyssExpError, ExperimentStateError, InvalidInputError
from abyssexp.experiment.layout import RECOVERY_CHECKPOINT, ExperimentPaths
from abyssexp.experiment.provenance import all_requirements, collect_provenance
from abyssexp.experiment.record import read_record, update_record
from abyssexp.locks import release_lock, try_lock
from abyssexp.schemas.params import Params
from abyssexp.schemas.resolve import load_params_file, params_to_json, resolve_params


@dataclass
class TrainOptions:
    overrides: Sequence[tuple[str, Any]] = ()
    epochs: int | None = None
    augmentation_configuration: str | None = None
    optimizer: str | None = None
    optimizer_args: str | None = None
    resume: bool = False
    gpus: int | None = None
    command_line: Sequence[str] | None = None


@dataclass
class TrainResult:
    path: Path
    status: str
    epochs_done: int
    epochs_total: int
    best_metric: str
    best_value: float | None
    best_epoch: int | None
    seconds: float
    images_per_second: float | None
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_train_params(paths: ExperimentPaths, options: TrainOptions) -> Params:
    """params.json + the command line's overrides, validated (nothing heavy imported)."""
    from abyssexp.literals import parse_literal

    overrides: list[tuple[str, Any]] = list(options.overrides)
    if options.epochs is not None:
        overrides.append(("training.epochs", options.epochs))
    if options.gpus is not None:
        overrides.append(("training.gpus", options.gpus))
    if options.optimizer is not None:
        overrides.append(("training.optimizer", options.optimizer))
    if options.optimizer_args is not None:
        value = parse_literal(options.optimizer_args, what="--optimizer-args")
        if not isinstance(value, dict):
            raise InvalidInputError(
                f"--optimizer-args: expected a dict such as {{'momentum': 0.9}}. Received: {value!r}"
            )
        overrides.append(("training.optimizer_args", value))
    if options.augmentation_configuration is not None:
        value = parse_literal(
            options.augmentation_configuration, what="--augmentation-configuration"
        )
        if not isinstance(value, dict):
            raise InvalidInputError(
                "--augmentation-configuration: expected a dict such as "
                f'{{"flip_lr": True}}. Received: {value!r}'
            )
        overrides.append(("augmentation.enabled", True))
        overrides.extend((f"augmentation.{k}", v) for k, v in value.items())
    from abyssexp.training.validation import preflight

    params = resolve_params(load_params_file(paths.params), overrides, source=str(paths.params))
    preflight(params)
    return params


def _existing_checkpoints(paths: ExperimentPaths) -> list[Path]:
    return sorted(p for p in paths.models.glob("model_*.*") if p.suffix in (".keras", ".h5"))


def _install_signal_handlers(flag: dict[str, Any]) -> dict[int, Any]:
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        if flag.get("stop"):
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        flag["stop"] = True
        flag["signal"] = signal.Signals(signum).name

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread (tests in threads)
            pass
    return previous


def check_start_state(
    paths: ExperimentPaths, params: Params, options: TrainOptions
) -> dict[str, Any] | None:
    """Refuse to start over existing checkpoints without --resume; with --resume, the saved state
    of the last finished epoch (None for a fresh start). Reads files only: no TensorFlow."""
    import json

    checkpoints = _existing_checkpoints(paths)
    if checkpoints and not options.resume:
        raise ExperimentStateError(
            f"{paths.root}: has checkpoints ({checkpoints[-1].name}); pass --resume to continue, "
            f"or start a new experiment with `abyssexp new ... --from {paths.root}`"
        )
    if not options.resume:
        return None
    if not paths.train_state.is_file():
        if checkpoints:
            raise ExperimentStateError(
                f"{paths.train_state}: missing, so the last finished epoch is unknown"
            )
        options.resume = False  # nothing to resume: a fresh start
        return None
    state = json.loads(paths.train_state.read_text())
    if state["epoch"] >= params.training.init_epoch + params.training.epochs:
        raise ExperimentStateError(
            f"{paths.root}: already trained {state['epoch']} epochs of "
            f"{params.training.epochs}; raise --epochs to train further"
        )
    return state


def train_experiment(
    paths: ExperimentPaths,
    options: TrainOptions,
    extra_callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train an experiment; see the module docstring for the guarantees."""
    from abyssexp.training.distribute import is_chief

    params = resolve_train_params(paths, options)
    record = read_record(paths.record)
    if not is_chief():
        # Multi-worker: the chief holds the lock and writes; the other workers only train.
        return _train_locked(paths, params, options, extra_callbacks)
    lock_fd = try_lock(paths.train_lock)
    if lock_fd is None:
        raise ExperimentStateError(
            f"{paths.root}: already running (pid {record.get('pid')} on {record.get('host')}); "
            "wait for it or stop it first"
        )
    try:
        return _train_locked(paths, params, options, extra_callbacks)
    finally:
        release_lock(lock_fd)


def _train_locked(
    paths: ExperimentPaths, params: Params, options: TrainOptions, extra_callbacks: Sequence[Any]
) -> TrainResult:
    from abyssexp.training.distribute import is_chief

    chief = is_chief()
    state = check_start_state(paths, params, options)
    # Data first: cheap, and the most common failure.
    from abyssexp.datasets.factory import dataset_for_split, label_space_from_params

    softmax = params.model.output_activation == "softmax"
    labels = label_space_from_params(params.dataset, paths.root)
    train_set = dataset_for_split(params.dataset, "train", paths.root, labels, softmax=softmax)
    if len(train_set) == 0:
        raise InvalidInputError(
            f"{train_set.coco_path}: no labelled training images (dropped {train_set.dropped_unlabelled} "
            "unlabelled); check the category map or `abyssexp data check`"
        )
    val_set = None
    if params.dataset.val:
        val_set = dataset_for_split(params.dataset, "val", paths.root, labels, softmax=softmax)
        if len(val_set) == 0:
            val_set = None

    from abyssexp.training.validation import check_optimizer

    check_optimizer(params.training.optimizer, dict(params.training.optimizer_args))
    if chief:
        category_map = labels.category_map()
        if category_map is not None and params.dataset.category_map is None:
            params = params.model_copy(
                update={"dataset": params.dataset.model_copy(update={"category_map": category_map})}
            )
        atomic_write_json(paths.params, params_to_json(params))
        atomic_write_json(paths.class_names, labels.class_names)
        if category_map is not None:
            atomic_write_json(paths.category_map, category_map)
        _write_provenance(paths, params, options, category_map)

    def mark_running(record: dict[str, Any]) -> None:
        record.update(
            status="running",
            pid=os.getpid(),
            host=socket.gethostname(),
            heartbeat_unix=time.time(),
            started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            epochs_total=params.training.init_epoch + params.training.epochs,
            error=None,
        )

    if chief:
        update_record(paths.record, mark_running)
    flag: dict[str, Any] = {}
    previous_handlers = _install_signal_handlers(flag)
    started = time.monotonic()
    model = None
    try:
        result, model = _fit(
            paths, params, options, state, labels, train_set, val_set, flag, extra_callbacks, chief
        )
        result.seconds = time.monotonic() - started
        if flag.get("stop"):
            if chief and model is not None:
                with atomic_path(paths.models / RECOVERY_CHECKPOINT) as tmp:
                    model.save(tmp)
            result.status = "interrupted"
            if chief:
                update_record(
                    paths.record,
                    lambda r: r.update(
                        status="interrupted", error=f"stopped by {flag.get('signal')}"
                    ),
                )
            return result
        if chief:
            update_record(
                paths.record,
                lambda r: r.update(
                    status="completed",
                    finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    disk_bytes=_disk_usage(paths.root),
                ),
            )
        result.status = "completed"
        return result
    except KeyboardInterrupt:
        if chief:
            update_record(
                paths.record, lambda r: r.update(status="interrupted", error="interrupted")
            )
        raise
    except BaseException as exc:
        message = str(exc) if isinstance(exc, AbyssExpError) else f"{type(exc).__name__}: {exc}"
        if chief:
            update_record(paths.record, lambda r: r.update(status="failed", error=message[:2000]))
        raise
    finally:
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)


def _disk_usage(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, name))
            except OSError:
                pass
    return total


def _write_provenance(
    paths: ExperimentPaths, params: Params, options: TrainOptions, category_map: Any
) -> None:
    import json

    import tensorflow as tf

    provenance, diff = collect_provenance(list(options.command_line or sys.argv))
    datasets = {}
    for split in ("train", "val"):
        value = getattr(params.dataset, split)
        if value:
            path = Path(value) if Path(value).is_absolute() else paths.root / value
            datasets[split] = {"path": str(path), "sha256": sha256_file(path)}
    provenance.update(
        tensorflow=tf.__version__,
        gpus=[d.name for d in tf.config.list_physical_devices("GPU")],
        datasets=datasets,
        category_map_sha256=hashlib.sha256(
            json.dumps(category_map, sort_keys=True).encode()
        ).hexdigest()
        if category_map is not None
        else None,
        resumed=bool(options.resume),
    )
    existing: dict[str, Any] = {}
    if paths.provenance.is_file():
        try:
            existing = json.loads(paths.provenance.read_text())
        except json.JSONDecodeError:
            existing = {}
    existing["train"] = provenance
    existing.setdefault("train_runs", []).append(
        {"time": time.time(), "command_line": provenance["command_line"], "git": provenance["git"]}
    )
    atomic_write_json(paths.provenance, existing)
    atomic_write_text(paths.git_diff, diff)
    atomic_write_text(paths.logs / "requirements.txt", all_requirements())


def _fit(
    paths: ExperimentPaths,
    params: Params,
    options: TrainOptions,
    state: dict[str, Any] | None,
    labels: Any,
    train_set: Any,
    val_set: Any,
    flag: dict[str, Any],
    extra_callbacks: Sequence[Any],
    chief: bool,
) -> tuple[TrainResult, Any]:
    import keras
    import tensorflow as tf

    from abyssexp.datasets.pipeline import (
        PipelineSpec,
        decode_plan,
        make_tf_dataset,
        steps_for,
    )
    from abyssexp.models.backbones import get_backbone_spec
    from abyssexp.models.classifier import ImageClassifier
    from abyssexp.training import callbacks as cb
    from abyssexp.training.distribute import make_strategy
    from abyssexp.training.schedules import make_schedule

    training = params.training
    model_params = params.model
    keras.utils.set_random_seed(training.seed)
    if training.deterministic:
        tf.config.experimental.enable_op_determinism()
    if training.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    spec = get_backbone_spec(model_params.backbone)
    input_shape = tuple(model_params.input_shape or (spec.input_size, spec.input_size, 3))
    size = (input_shape[0], input_shape[1])
    strategy = make_strategy(training.gpus)
    softmax = model_params.output_activation == "softmax"

    augmentation = params.augmentation
    pipeline_augment = None
    pipeline_augment_image = None
    model_augmentation = None
    if augmentation.enabled:
        if augmentation.backend == "imgaug":
            from abyssexp.augmentation.imgaug_backend import batch_augmenter as imgaug_augmenter

            pipeline_augment = imgaug_augmenter(augmentation, seed=training.seed)
        elif augmentation.placement == "model":
            model_augmentation = augmentation.model_dump(mode="json")
        else:
            from abyssexp.augmentation.tf_backend import image_augmenter_fn

            pipeline_augment_image = image_augmenter_fn(augmentation, size, training.seed)

    parallel = training.workers
    steps = training.steps_per_epoch or steps_for(len(train_set), training.batch_size)
    train_plan = decode_plan(train_set.image_paths, size)

    def training_pipeline(cache: bool = False) -> Any:
        """A new training dataset. Each reader needs its own: iterators of one dataset share its
        shuffle and augmentation seed state, and a second reader running ahead in the background
        (the image log, batch-norm recomputation) would change fit's order by timing alone. Only
        fit's own caches (``cache_train``): one copy of the decoded set in memory."""
        return make_tf_dataset(
            train_set,
            PipelineSpec(
                input_size=size,
                batch_size=training.batch_size,
                training=True,
                seed=training.seed,
                repeat=True,
                cache=cache,
                normalise_targets=softmax,
                parallel_calls=parallel,
                deterministic=True if training.deterministic else None,
            ),
            augment=pipeline_augment,
            augment_image=pipeline_augment_image,
            plan=train_plan,
        )

    train_ds = training_pipeline(cache=training.cache_train)
    val_ds = None
    val_steps = None
    if val_set is not None:
        val_ds = make_tf_dataset(
            val_set,
            PipelineSpec(
                input_size=size,
                batch_size=training.batch_size,
                cache=training.cache_val,
                normalise_targets=softmax,
                parallel_calls=parallel,
            ),
        )
        val_steps = training.validation_steps or steps_for(len(val_set), training.batch_size)

    class_weights = None
    if training.class_weights == "balanced":
        weights = train_set.class_weights()
        class_weights = [weights[c] for c in range(labels.num_classes)]
    elif isinstance(training.class_weights, dict):
        class_weights = [
            float(training.class_weights.get(str(c), 1.0)) for c in range(labels.num_classes)
        ]

    epochs_total = training.init_epoch + training.epochs
    initial_epoch = training.init_epoch
    lr = make_schedule(
        training.lr_schedule, training.lr, dict(training.lr_schedule_params), steps, training.epochs
    )
    with strategy.scope():
        if state is not None:
            initial_epoch = int(state["epoch"])
            classifier = ImageClassifier.load(paths.models / state["checkpoint"], compile=True)
            model = classifier.model
        else:
            classifier = ImageClassifier(
                backbone=model_params.backbone,
                output_activation=model_params.output_activation,
                pooling=model_params.pooling,
                classes=labels.num_classes,
                input_shape=input_shape,
                init_weights=model_params.init_weights,
                init_epoch=training.init_epoch,
                init_lr=lr,
                trainable=model_params.trainable,
                optimizer=training.optimizer,
                optimizer_args=dict(training.optimizer_args),
                loss=training.loss,
                metrics=training.metrics,
                gpus=training.gpus,
                l12_reg=model_params.l12_reg,
                dropout=model_params.dropout,
                bn_momentum=model_params.bn_momentum,
                include_preprocessing=True,
                augmentation=model_augmentation,
                augmentation_seed=training.seed,
                class_weights=class_weights,
                class_names=labels.class_names,
                jit_compile=model_params.jit_compile,
                strategy=strategy,
            )
            model = classifier.model
    if chief and state is None:
        atomic_write_text(paths.model_definition, model.to_json(indent=2))

    history_rows = cb.read_history(paths.history) if state is not None else []
    monitor = training.monitor if val_ds is not None else training.monitor.removeprefix("val_")
    promoted = {
        p.get("checkpoint")
        for p in (read_record(paths.record).get("promotions") or [])
        if p.get("checkpoint")
    }
    checkpoint = cb.ExperimentCheckpoint(
        paths,
        monitor=monitor,
        interval=training.save_model_interval,
        keep=training.keep_checkpoints,
        fmt=training.checkpoint_format,
        best_value=state.get("best_value") if state else None,
        best_epoch=state.get("best_epoch") if state else None,
        history_rows=history_rows,
        epochs_total=epochs_total,
        chief=chief,
        protected=lambda: promoted,
    )
    callbacks: list[Any] = [cb.LearningRateLogger(), keras.callbacks.TerminateOnNaN()]
    if training.bn_recompute_batches:
        callbacks.append(cb.RecomputeBatchNorm(training_pipeline(), training.bn_recompute_batches))
    if val_ds is not None and (params.callbacks.pr_curves or params.callbacks.tfpn):
        callbacks.append(
            cb.ValidationCurves(
                val_ds,
                val_set.multihot(),
                labels.class_names,
                paths.logs / "validation_metrics",
                model_params.output_activation,
                pr_curves=params.callbacks.pr_curves,
                tfpn=params.callbacks.tfpn,
                thresholds=params.callbacks.pr_curve_thresholds,
                chief=chief,
            )
        )
    callbacks.append(checkpoint)
    if chief:
        callbacks.append(
            keras.callbacks.TensorBoard(
                log_dir=str(paths.logs),
                histogram_freq=params.callbacks.histogram_freq,
                write_graph=False,
                update_freq="epoch",
            )
        )
        callbacks.append(cb.Heartbeat(paths.record))
        if params.callbacks.log_images and state is None:
            _log_training_images(paths, training_pipeline(), model, params.callbacks.log_images)
    plateau = params.callbacks.reduce_lr_on_plateau
    if training.lr_schedule == "plateau" or plateau.enabled:
        schedule_params = dict(training.lr_schedule_params)
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor,
                factor=float(schedule_params.get("factor", plateau.factor)),
                patience=int(schedule_params.get("patience", plateau.patience)),
                min_lr=float(schedule_params.get("min_lr", plateau.min_lr)),
            )
        )
    if training.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                patience=training.early_stopping_patience,
                mode=cb.metric_mode(monitor),
            )
        )
    callbacks.append(cb.StopOnSignal(flag))
    callbacks.extend(extra_callbacks)

    started = time.monotonic()
    model.fit(
        train_ds,
        epochs=epochs_total,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps,
        validation_data=val_ds,
        validation_steps=val_steps,
        callbacks=callbacks,
        verbose=0,
        shuffle=False,  # the pipeline shuffles, seeded, every epoch
    )
    seconds = time.monotonic() - started
    done = checkpoint.last_epoch or initial_epoch
    trained_epochs = done - initial_epoch
    rate = (
        (trained_epochs * steps * training.batch_size / seconds)
        if seconds and trained_epochs
        else None
    )
    result = TrainResult(
        path=paths.root,
        status="running",
        epochs_done=done,
        epochs_total=epochs_total,
        best_metric=monitor,
        best_value=checkpoint.best_value,
        best_epoch=checkpoint.best_epoch,
        seconds=seconds,
        images_per_second=rate,
        files={
            "best": str(paths.best_checkpoint),
            "last": str(paths.checkpoint(done)) if done else "",
            "history": str(paths.history),
            "tensorboard": str(paths.logs),
        },
    )
    return result, model


def _log_training_images(paths: ExperimentPaths, train_ds: Any, model: Any, count: int) -> None:
    """A handful of (augmented) training images in TensorBoard, once."""
    import tensorflow as tf

    images, _ = next(iter(train_ds.take(1)))
    images = images[:count]
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
