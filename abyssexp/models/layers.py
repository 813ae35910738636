"""Serializable layers that travel inside saved models (safe-mode loadable, no lambdas)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="abyssexp")
class BackbonePreprocess(keras.layers.Layer):
    """The backbone's own ``preprocess_input`` as a layer, so a saved model takes raw pixels."""

    def __init__(self, backbone: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.backbone = backbone
        from abyssexp.models.backbones import preprocess_function

        self._fn = preprocess_function(backbone)

    def call(self, inputs: Any) -> Any:
        return self._fn(tf.cast(inputs, self.compute_dtype))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "backbone": self.backbone}


@keras.saving.register_keras_serializable(package="abyssexp")
class SeedAugmentation(keras.layers.Layer):
    """The seed's augmentation configuration as batched layers at the front of the model
    (``augmentation.placement: model``): active only in training, so on a GPU it runs on the
    accelerator and leaves the CPU to decoding."""

    def __init__(self, config: dict[str, Any], seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from abyssexp.augmentation import config_from_any

        self.config = dict(config)
        self.seed = seed
        self._params = config_from_any(self.config)
        self._seeds = keras.random.SeedGenerator(seed)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training:
            return inputs
        from abyssexp.augmentation.tf_backend import augment_batch

        pair = tf.cast(self._seeds.next(), tf.int64)
        return tf.cast(augment_batch(tf.cast(inputs, tf.float32), pair, self._params), inputs.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "config": self.config, "seed": self.seed}
