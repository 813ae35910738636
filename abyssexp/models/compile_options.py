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

#: Per parameter: how the schedule or callback reads it (``int`` or ``float``), the least value
#: it takes (and whether that value itself is allowed), the value it must stay below (None: no
#: bound), and what it must be, in words. What is refused would fail, or train a nonsense rate,
#: once the model is built (ReduceLROnPlateau raises on a factor of 1 or more); what an older
#: run trained with (a step_size of 2.5 read as 2, "10") still reads.
PARAM_RANGES: dict[str, tuple[type[int] | type[float], tuple[float, bool], float | None, str]] = {
    "step_size": (int, (1, True), None, "a number of epochs, 1 or more"),
    "patience": (int, (0, True), None, "a number of epochs, 0 or more"),
    "gamma": (float, (0, False), None, "a number above 0"),
    "factor": (float, (0, True), 1.0, "a number from 0 to below 1"),
    "min_lr": (float, (0, True), None, "a number, 0 or more"),
    "base_lr": (float, (0, True), None, "a number, 0 or more"),
    "max_lr": (float, (0, False), None, "a number above 0"),
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
    read, (low, low_included), high, _ = PARAM_RANGES[key]
    try:
        number = read(value)  # as make_schedule and the plateau callback read it
    except (TypeError, ValueError, OverflowError):
        return False
    if not math.isfinite(number):
        return False
    above = number >= low if low_included else number > low
    return above and (high is None or number < high)


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
