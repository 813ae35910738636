"""Losses with per-class weights inside the loss (multilabel-safe, unlike Keras' argmax
``class_weight``), and focal variants."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from abyssexp.errors import InvalidInputError


@keras.saving.register_keras_serializable(package="abyssexp")
class ClassWeightedCrossentropy(keras.losses.Loss):
    """Cross-entropy (categorical or binary, optionally focal) with a weight per class.

    Categorical: each sample's loss is scaled by ``sum_c y_c * w_c`` (soft targets included).
    Binary: each class's term is scaled by ``w_c`` before averaging over classes.
    """

    def __init__(
        self,
        mode: str = "categorical",
        class_weights: list[float] | None = None,
        focal_gamma: float | None = None,
        label_smoothing: float = 0.0,
        name: str = "class_weighted_crossentropy",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        if mode not in ("categorical", "binary"):
            raise InvalidInputError(f"loss mode must be categorical or binary. Received: {mode!r}")
        self.mode = mode
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        self.focal_gamma = focal_gamma
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_true = tf.cast(y_true, y_pred.dtype)
        if self.label_smoothing:
            share = 1.0 / tf.cast(tf.shape(y_true)[-1], y_pred.dtype)
            share = share if self.mode == "categorical" else 0.5
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing * share
        eps = keras.config.epsilon()
        y_pred = tf.clip_by_value(y_pred, eps, 1.0 - eps)
        weights = (
            tf.constant(self.class_weights, dtype=y_pred.dtype)
            if self.class_weights is not None
            else tf.ones_like(y_pred[0])
        )
        if self.mode == "categorical":
            terms = -y_true * tf.math.log(y_pred)
            if self.focal_gamma:
                terms *= tf.pow(1.0 - y_pred, self.focal_gamma)
            return tf.reduce_sum(terms * weights, axis=-1)
        terms = -(y_true * tf.math.log(y_pred) + (1.0 - y_true) * tf.math.log(1.0 - y_pred))
        if self.focal_gamma:
            p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
            terms *= tf.pow(1.0 - p_t, self.focal_gamma)
        return tf.reduce_mean(terms * weights, axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "mode": self.mode,
            "class_weights": self.class_weights,
            "focal_gamma": self.focal_gamma,
            "label_smoothing": self.label_smoothing,
        }


def make_loss(
    loss: str,
    output_activation: str,
    class_weights: list[float] | None = None,
    label_smoothing: float = 0.0,
) -> str | keras.losses.Loss:
    """Resolve ``training.loss`` (auto, categorical/binary cross-entropy, focal) to a Keras loss."""
    mode = "categorical" if output_activation == "softmax" else "binary"
    if loss == "auto":
        loss = f"{mode}_crossentropy"
    if loss == "categorical_crossentropy" and mode == "binary":
        raise InvalidInputError(
            "training.loss: categorical_crossentropy needs output_activation softmax"
        )
    if loss == "focal":
        return ClassWeightedCrossentropy(
            mode, class_weights, focal_gamma=2.0, label_smoothing=label_smoothing, name="focal"
        )
    if class_weights is not None:
        return ClassWeightedCrossentropy(mode, class_weights, label_smoothing=label_smoothing)
    if loss in ("categorical_crossentropy", "binary_crossentropy"):
        if not label_smoothing:
            return loss
        builtin = (
            keras.losses.CategoricalCrossentropy
            if loss == "categorical_crossentropy"
            else keras.losses.BinaryCrossentropy
        )
        return builtin(label_smoothing=label_smoothing)
    return keras.losses.get(loss)
