"""Checks of training params that need no TensorFlow, run before a run is marked ``running``."""

from __future__ import annotations

import inspect
from typing import Any

from abyssexp.errors import InvalidInputError

SCHEDULE_PARAMS = {
    "step": {"step_size", "gamma"},
    "exp": {"gamma"},
    "cosine": {"min_lr"},
    "cyclic": {"base_lr", "max_lr", "step_size"},
    "plateau": {"factor", "patience", "min_lr"},
}


def check_schedule_params(name: str | None, params: dict[str, Any]) -> None:
    if name is None:
        if params:
            raise InvalidInputError(
                "training.lr_schedule_params given without training.lr_schedule"
            )
        return
    unknown = sorted(set(params) - SCHEDULE_PARAMS[name])
    if unknown:
        raise InvalidInputError(
            f"training.lr_schedule_params: {name} has no parameter(s) {', '.join(unknown)} "
            f"(valid: {', '.join(sorted(SCHEDULE_PARAMS[name]))})"
        )


MULTIWORKER_UNAVAILABLE = (
    "TF_CONFIG is set, but multi-worker training is not available: Keras 3's fit fails under "
    "tf.distribute.MultiWorkerMirroredStrategy (keras-team/keras#20585, open since TensorFlow "
    "2.16). Train on one machine (--gpus N uses MirroredStrategy), or unset TF_CONFIG"
)


def check_distribution() -> None:
    """Refuse multi-worker runs up front rather than crash inside Keras after the run started."""
    import os

    from abyssexp.errors import ExperimentStateError

    if os.environ.get("TF_CONFIG"):
        raise ExperimentStateError(MULTIWORKER_UNAVAILABLE)


def preflight(params: Any) -> None:
    """Everything about params that can fail, checked before any heavy work."""
    check_distribution()
    from abyssexp.models.backbones import get_backbone_spec

    spec = get_backbone_spec(params.model.backbone)
    shape = params.model.input_shape or (spec.input_size, spec.input_size, 3)
    if min(shape[:2]) < spec.min_size:
        raise InvalidInputError(
            f"model.input_shape: {spec.name} needs at least {spec.min_size}×{spec.min_size} "
            f"pixels. Received: input_shape={list(shape)}"
        )
    training = params.training
    check_schedule_params(training.lr_schedule, dict(training.lr_schedule_params))
    if params.callbacks.reduce_lr_on_plateau.enabled and training.lr_schedule not in (
        None,
        "plateau",
    ):
        raise InvalidInputError(
            "callbacks.reduce_lr_on_plateau cannot be combined with training.lr_schedule="
            f"{training.lr_schedule}; use one of them"
        )
    if (
        params.dataset.background_logit is not None
        and params.model.output_activation == "softmax"
        and (params.dataset.unlabelled == "zeros")
    ):
        raise InvalidInputError("dataset.unlabelled=zeros needs model.output_activation=sigmoid")


def check_optimizer(name: str, args: dict[str, Any]) -> None:
    """Optimizer name and arguments against the Keras class signature (imports Keras)."""
    from abyssexp.training.optimizers import optimizer_classes

    classes = optimizer_classes()
    cls = classes.get(name.lower())
    if cls is None:
        raise InvalidInputError(
            f"training.optimizer: unknown optimizer {name!r} (valid: {', '.join(sorted(classes))})"
        )
    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs")]
    if "learning_rate" in args or "lr" in args:
        raise InvalidInputError(
            "training.optimizer_args: do not set the learning rate here; use training.lr "
            "(--set training.lr=...)"
        )
    unknown = sorted(set(args) - set(valid))
    if unknown:
        raise InvalidInputError(
            f"training.optimizer_args: {cls.__name__} has no argument(s) {', '.join(unknown)} "
            f"(valid: {', '.join(v for v in valid if v != 'learning_rate')})"
        )
