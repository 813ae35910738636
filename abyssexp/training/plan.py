"""Plan a training run: everything ``train`` needs, checked, before anything is written or loaded.

``plan_training`` reads files only (params, the training state, the COCO files) and imports no
TensorFlow, so the command line calls it first and fails fast on bad params, bad data or a wrong
start state. The plan is a frozen value; ``abyssexp.training.run`` consumes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from abyssexp.datasets import image_cache
from abyssexp.errors import ExperimentStateError, InvalidInputError
from abyssexp.experiment.checkpoints import epoch_checkpoints, read_train_state
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.record_file import read_record
from abyssexp.models.backbones import check_min_size, input_shape_for
from abyssexp.models.compile_options import check_schedule_params
from abyssexp.models.distribute import refuse_multi_worker
from abyssexp.schemas.params import Params
from abyssexp.schemas.resolve import (
    augmentation_overrides,
    dict_option,
    load_params_file,
    params_to_json,
    parse_set_options,
    resolve_params,
)

if TYPE_CHECKING:
    from abyssexp.datasets.class_table import ClassTable
    from abyssexp.datasets.coco import ImageClassificationDataset
    from abyssexp.datasets.split_datasets import LabelSpace


@dataclass(frozen=True)
class TrainOptions:
    """What the command line (or a caller) asks of one ``train`` on top of params.json.

    The one type for every way a run starts: ``train`` here, and each process or Slurm job of
    ``train --on`` and ``sweep run``, which gets the same options back through ``to_argv``.
    """

    #: ``--set KEY=VALUE`` items as typed (parsed by ``overrides``).
    set_items: Sequence[str] = ()
    epochs: int | None = None
    augmentation_configuration: str | None = None
    optimizer: str | None = None
    optimizer_args: str | None = None
    resume: bool = False
    gpus: int | None = None
    command_line: Sequence[str] | None = None

    @property
    def overrides(self) -> list[tuple[str, Any]]:
        """The ``--set`` items as (dotted key, value) pairs.

        Raises:
            InvalidInputError: an item is not ``KEY=VALUE`` or its value does not parse.
        """
        return list(parse_set_options(self.set_items))

    def to_argv(self) -> list[str]:
        """These options as ``abyssexp train`` flags, for a run in another process."""
        argv = ["--resume"] if self.resume else []
        for item in self.set_items:
            argv += ["--set", item]
        for flag, value in (
            ("--epochs", self.epochs),
            ("--optimizer", self.optimizer),
            ("--optimizer-args", self.optimizer_args),
            ("--augmentation-configuration", self.augmentation_configuration),
            ("--gpus", self.gpus),
        ):
            if value is not None:
                argv += [flag, str(value)]
        return argv


@dataclass(frozen=True)
class ResumeState:
    """Where a resumed run starts: the last finished epoch, its checkpoint, and what the
    checkpoint does not hold (``TrainState``)."""

    epoch: int
    checkpoint: str
    best_value: float | None = None
    best_epoch: int | None = None
    #: The model's layer random states after that epoch; None from a version-1 train_state.json.
    layer_random_states: tuple[tuple[int, int], ...] | None = None


@dataclass(frozen=True)
class TrainingPlan:
    """A checked training run, ready to execute."""

    paths: ExperimentPaths
    params: Params
    options: TrainOptions
    resume: ResumeState | None
    labels: LabelSpace
    train_set: ImageClassificationDataset
    val_set: ImageClassificationDataset | None
    input_shape: tuple[int, int, int]
    command_line: list[str] = field(default_factory=list)
    #: Dotted params the command line changed, ``{key: {"from": old, "to": new}}``.
    params_changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Small-data warnings about what trains (``abyssexp.datasets.class_table``).
    data_warnings: list[str] = field(default_factory=list)

    @property
    def epochs_total(self) -> int:
        return self.params.training.init_epoch + self.params.training.epochs

    @property
    def initial_epoch(self) -> int:
        return self.resume.epoch if self.resume else self.params.training.init_epoch

    @property
    def softmax(self) -> bool:
        return self.params.model.output_activation == "softmax"

    @property
    def monitor(self) -> str:
        """The monitored metric; without validation data its ``val_`` prefix is dropped."""
        monitor = self.params.training.monitor
        return monitor if self.val_set is not None else monitor.removeprefix("val_")


def plan_training(paths: ExperimentPaths, options: TrainOptions) -> TrainingPlan:
    """Resolve params, check them, find the start state and load the label space and splits.

    Args:
        paths: the experiment's folder.
        options: the command line's overrides and flags.

    Returns:
        The frozen plan ``train_experiment`` runs.

    Raises:
        InvalidInputError: a param or option is invalid (exit 2).
        ExperimentStateError: checkpoints exist without ``--resume``, nothing is left to train,
            or record.json does not parse.
        DatasetError: the training data cannot be used.
    """
    record = read_record(paths.record)  # a record that does not parse stops the run first
    params = resolve_train_params(paths, options)
    changes = params_changes(resolve_params(load_params_file(paths.params)), params)
    resume = start_state(paths, params, options.resume)
    image_cache.pipeline_settings(paths.scratch, params.training.cache, 0)  # a linked .cache
    forced = any(o.flag == "--force-data" for o in record.data_overrides)
    table = load_class_table(paths, params, forced)
    labels, train_set, val_set = table.labels, table.datasets["train"], table.datasets.get("val")
    if val_set is not None and len(val_set) == 0:
        val_set = None
    if val_set is None and params.training.monitor == "val_macro_f1":
        raise InvalidInputError(
            "training.monitor=val_macro_f1 is computed on the validation set, and this experiment "
            "has none; set dataset.val, or --set training.monitor=loss"
        )
    return TrainingPlan(
        paths=paths,
        params=params,
        options=options,
        resume=resume,
        labels=labels,
        train_set=train_set,
        val_set=val_set,
        input_shape=input_shape_for(params.model.backbone, params.model.input_shape),
        command_line=list(options.command_line or []),
        params_changes=changes,
        data_warnings=list(table.warnings),
    )


def params_changes(before: Params, after: Params) -> dict[str, dict[str, Any]]:
    """``{dotted key: {"from": ..., "to": ...}}`` for every param that differs."""
    from abyssexp.experiment.param_filters import flatten_params

    old = flatten_params(params_to_json(before))
    new = flatten_params(params_to_json(after))
    return {
        key: {"from": old.get(key), "to": new.get(key)}
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    }


def resolve_train_params(paths: ExperimentPaths, options: TrainOptions) -> Params:
    """params.json + the command line's overrides, validated (nothing heavy imported)."""
    overrides: list[tuple[str, Any]] = options.overrides
    if options.epochs is not None:
        overrides.append(("training.epochs", options.epochs))
    if options.gpus is not None:
        overrides.append(("training.gpus", options.gpus))
    if options.optimizer is not None:
        overrides.append(("training.optimizer", options.optimizer))
    if options.optimizer_args is not None:
        args = dict_option(options.optimizer_args, "--optimizer-args", "{'momentum': 0.9}")
        overrides.append(("training.optimizer_args", args))
    if options.augmentation_configuration is not None:
        overrides.extend(augmentation_overrides(options.augmentation_configuration))
    params = resolve_params(load_params_file(paths.params), overrides, source=str(paths.params))
    preflight(params)
    return params


def preflight(params: Params) -> None:
    """Everything about params that can fail, checked before any heavy work."""
    refuse_multi_worker()
    check_min_size(
        params.model.backbone, input_shape_for(params.model.backbone, params.model.input_shape)
    )
    training = params.training
    check_schedule_params(training.lr_schedule, dict(training.lr_schedule_params))
    _check_plateau(params)
    if (
        params.dataset.background_logit is not None
        and params.model.output_activation == "softmax"
        and (params.dataset.unlabelled == "zeros")
    ):
        raise InvalidInputError("dataset.unlabelled=zeros needs model.output_activation=sigmoid")


def _check_plateau(params: Params) -> None:
    """ReduceLROnPlateau sets the optimizer's rate, which a schedule (or a warm-up, which makes
    one) does not allow: Keras would raise at the first plateau, epochs into the run."""
    training = params.training
    if training.lr_schedule != "plateau" and not params.callbacks.reduce_lr_on_plateau.enabled:
        return
    if training.lr_schedule not in (None, "plateau"):
        raise InvalidInputError(
            "callbacks.reduce_lr_on_plateau cannot be combined with training.lr_schedule="
            f"{training.lr_schedule}, whose rate cannot be set; use one of them"
        )
    if training.warmup_epochs:
        raise InvalidInputError(
            f"a plateau schedule cannot follow a warm-up (training.warmup_epochs is "
            f"{training.warmup_epochs:g}): the rate must stay settable; set "
            f"training.warmup_epochs=0 or use another schedule"
        )


def start_state(paths: ExperimentPaths, params: Params, resume: bool) -> ResumeState | None:
    """The saved state of the last finished epoch with ``resume``; None for a fresh start.

    Raises:
        ExperimentStateError: checkpoints exist without ``resume``; the state file is missing
            although checkpoints exist; or every planned epoch is already trained.
    """
    checkpoints = epoch_checkpoints(paths.models)
    if checkpoints and not resume:
        raise ExperimentStateError(
            f"{paths.root}: has checkpoints ({checkpoints[-1][1].name}); pass --resume to "
            f"continue, or start a new experiment with `abyssexp new ... --from {paths.root}`"
        )
    if not resume:
        return None
    if not paths.train_state.is_file():
        if checkpoints:
            raise ExperimentStateError(
                f"{paths.train_state}: missing, so the last finished epoch is unknown"
            )
        return None  # nothing to resume: a fresh start
    state = read_train_state(paths)
    if not (paths.models / state.checkpoint).is_file():
        raise ExperimentStateError(
            f"{paths.models / state.checkpoint}: the last finished epoch's checkpoint was "
            "removed (gc or promote --move), so the run cannot resume; start a new experiment "
            f"with `abyssexp new ... --from {paths.root}`"
        )
    if state.epoch >= params.training.init_epoch + params.training.epochs:
        raise ExperimentStateError(
            f"{paths.root}: already trained {state.epoch} epochs of "
            f"{params.training.epochs}; raise --epochs to train further"
        )
    randoms = state.layer_random_states
    return ResumeState(
        epoch=state.epoch,
        checkpoint=state.checkpoint,
        best_value=state.best_value,
        best_epoch=state.best_epoch,
        layer_random_states=tuple(randoms) if randoms is not None else None,
    )


def load_class_table(paths: ExperimentPaths, params: Params, forced: bool = False) -> ClassTable:
    """The class table training uses, from the function ``data check`` and ``new`` use; its
    verdict refuses the run unless ``new --force-data`` accepted it.

    Raises:
        InvalidInputError: the data is not usable as it trains (one line per problem).
    """
    from abyssexp.datasets.class_table import class_table

    softmax = params.model.output_activation == "softmax"
    table = class_table(params.dataset, softmax, paths.root)
    if table.problems and not forced:
        raise InvalidInputError(
            table.problems[0],
            problems=[
                *table.problems,
                "(fix the params with --set, or create the experiment with `abyssexp new ... "
                "--force-data` to train anyway)",
            ],
        )
    if len(table.datasets["train"]) == 0:
        train_set = table.datasets["train"]
        raise InvalidInputError(
            f"{train_set.coco_path}: no labelled training images (dropped "
            f"{train_set.dropped_unlabelled} unlabelled); check the category map or "
            "`abyssexp data check`"
        )
    return table
