"""Learning-rate schedules as functions of the optimizer's step counter.

Because the position lives in ``optimizer.iterations``, a resumed run restores it with the
optimizer state and continues the schedule exactly where it stopped.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import keras
import tensorflow as tf

from abyssexp.errors import InvalidInputError

#: What an optimizer is given as its learning rate: a float or a schedule of the step.
LearningRate: TypeAlias = float | keras.optimizers.schedules.LearningRateSchedule


@keras.saving.register_keras_serializable(package="abyssexp")
class TriangularCyclicLR(keras.optimizers.schedules.LearningRateSchedule):
    """Triangular cyclic learning rate between ``base_lr`` and ``max_lr`` (Smith, 2017)."""

    def __init__(self, base_lr: float, max_lr: float, step_size: int) -> None:
        self.base_lr = float(base_lr)
        self.max_lr = float(max_lr)
        self.step_size = int(step_size)

    def __call__(self, step: tf.Tensor) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        cycle = tf.floor(1.0 + step / (2.0 * self.step_size))
        x = tf.abs(step / self.step_size - 2.0 * cycle + 1.0)
        return self.base_lr + (self.max_lr - self.base_lr) * tf.maximum(0.0, 1.0 - x)

    def get_config(self) -> dict[str, Any]:
        return {"base_lr": self.base_lr, "max_lr": self.max_lr, "step_size": self.step_size}


@keras.saving.register_keras_serializable(package="abyssexp")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Scales any learning rate (a float or a schedule) linearly from ~0 to 1 over
    ``warmup_steps`` optimizer steps, then leaves it as it is."""

    def __init__(self, after: LearningRate, warmup_steps: int) -> None:
        self.after = after
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step: tf.Tensor) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        base = self.after(step) if callable(self.after) else tf.constant(self.after, tf.float32)
        scale = tf.minimum(1.0, (step + 1.0) / float(max(1, self.warmup_steps)))
        return tf.cast(base, tf.float32) * scale

    def get_config(self) -> dict[str, Any]:
        after = self.after
        if isinstance(after, keras.optimizers.schedules.LearningRateSchedule):
            after = keras.saving.serialize_keras_object(after)
        return {"after": after, "warmup_steps": self.warmup_steps}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LinearWarmup:
        after = config["after"]
        if isinstance(after, dict):
            after = keras.saving.deserialize_keras_object(after)
        return cls(after, config["warmup_steps"])


def with_warmup(lr: LearningRate, warmup_epochs: float, steps_per_epoch: int) -> LearningRate:
    """``lr`` with a linear warm-up over ``warmup_epochs`` (unchanged when 0)."""
    steps = int(round(warmup_epochs * steps_per_epoch))
    return LinearWarmup(lr, steps) if steps > 0 else lr


from abyssexp.models.compile_options import check_schedule_params as _check_params  # noqa: E402


def make_schedule(
    name: str | None, lr: float, params: dict[str, Any], steps_per_epoch: int, epochs: int
) -> LearningRate:
    """The learning rate (a float) or a ``LearningRateSchedule``; ``plateau`` is a callback and
    returns the float here. Epoch-valued params (``step_size``) count epochs."""
    if name is None or name == "plateau":
        if name is None and params:
            raise InvalidInputError(
                "training.lr_schedule_params given without training.lr_schedule"
            )
        if name == "plateau":
            _check_params(name, params)
        return lr
    _check_params(name, params)
    if name == "step":
        return keras.optimizers.schedules.ExponentialDecay(
            lr,
            decay_steps=int(params.get("step_size", 10)) * steps_per_epoch,
            decay_rate=float(params.get("gamma", 0.1)),
            staircase=True,
        )
    if name == "exp":
        return keras.optimizers.schedules.ExponentialDecay(
            lr, decay_steps=steps_per_epoch, decay_rate=float(params.get("gamma", 0.95))
        )
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            lr,
            decay_steps=max(1, epochs * steps_per_epoch),
            alpha=float(params.get("min_lr", 0.0)) / lr,
        )
    if name == "cyclic":
        return TriangularCyclicLR(
            float(params.get("base_lr", lr / 10)),
            float(params.get("max_lr", lr)),
            int(params.get("step_size", 2)) * steps_per_epoch,
        )
    raise InvalidInputError(f"training.lr_schedule: unknown schedule {name!r}")  # pragma: no cover
