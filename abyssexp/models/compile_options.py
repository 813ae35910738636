"""What ``compile`` will be given, checked before TensorFlow builds anything.

The optimizer name and arguments are checked against the Keras class's signature (this imports
Keras, so training calls it just before it marks the run ``running``); schedule parameters need
nothing heavy and are checked when the training plan is made.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from abyssexp.errors import InvalidInputError

#: Per parameter: a whole number?, the lower bound (value, included?), the upper bound
#: (excluded; None: none), and what it must be, in words. Keras or the schedule would raise
#: on anything else once the model is built (ReduceLROnPlateau on a factor of 1 or more).
PARAM_RANGES: dict[str, tuple[bool, tuple[float, bool], float | None, str]] = {
    "step_size": (True, (1, True), None, "a whole number of epochs, 1 or more"),
    "patience": (True, (1, True), None, "a whole number of epochs, 1 or more"),
    "gamma": (False, (0, False), None, "a number above 0"),
    "factor": (False, (0, False), 1.0, "a number between 0 and 1 (excluded)"),
    "min_lr": (False, (0, True), None, "a number, 0 or more"),
    "base_lr": (False, (0, False), None, "a number above 0"),
    "max_lr": (False, (0, False), None, "a number above 0"),
}
EXAMPLES = {
    "step_size": 10, "patience": 3, "gamma": 0.1, "factor": 0.5, "min_lr": 1e-6,
    "base_lr": 1e-4, "max_lr": 1e-2,
}  # fmt: skip

SCHEDULE_PARAMS = {
    "step": {"step_size", "gamma"},
    "exp": {"gamma"},
    "cosine": {"min_lr"},
    "cyclic": {"base_lr", "max_lr", "step_size"},
    "plateau": {"factor", "patience", "min_lr"},
}


def check_schedule_params(name: str | None, params: dict[str, Any]) -> None:
    """Refuse schedule parameters the named schedule does not take (the valid ones listed), and
    values out of their range (``PARAM_RANGES``), before anything is built."""
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
    for key, value in params.items():
        if not _in_range(key, value):
            raise InvalidInputError(
                f"training.lr_schedule_params.{key}: {value!r} is not {PARAM_RANGES[key][3]} "
                f"(e.g. --set 'training.lr_schedule_params={{\"{key}\": {EXAMPLES[key]}}}')"
            )


def _in_range(key: str, value: Any) -> bool:
    whole, (low, low_included), high, _ = PARAM_RANGES[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    if whole and value != int(value):
        return False
    above = value >= low if low_included else value > low
    return above and (high is None or value < high)


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
