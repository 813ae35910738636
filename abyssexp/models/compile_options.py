"""What ``compile`` will be given, checked before TensorFlow builds anything.

The optimizer name and arguments are checked against the Keras class's signature (this imports
Keras, so training calls it just before it marks the run ``running``); schedule parameters need
nothing heavy and are checked when the training plan is made.
"""

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
    """Refuse schedule parameters the named schedule does not take (the valid ones listed)."""
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


def optimizer_classes() -> dict[str, type]:
    """Every Keras optimizer class by lower-case name (imports Keras)."""
    import keras

    found = {}
    for name in dir(keras.optimizers):
        value = getattr(keras.optimizers, name)
        if (
            isinstance(value, type)
            and issubclass(value, keras.optimizers.Optimizer)
            and value is not keras.optimizers.Optimizer
            and not name.startswith("Loss")
        ):
            found[name.lower()] = value
    return found


def check_optimizer(name: str, args: dict[str, Any]) -> None:
    """Optimizer name and arguments against the Keras class signature (imports Keras)."""
    classes = optimizer_classes()
    cls = classes.get(name.lower())
    if cls is None:
        raise InvalidInputError(
            f"training.optimizer: unknown optimizer {name!r} (valid: {', '.join(sorted(classes))})"
        )
    valid = [p for p in inspect.signature(cls).parameters if p not in ("self", "kwargs")]
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
