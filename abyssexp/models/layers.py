"""Layers that travel inside saved models (safe-mode loadable, no lambdas).

Preprocessing is built from Keras' own layers (``preprocessing_layers``), so a saved classifier
loads with ``keras.models.load_model`` in a process that has never heard of abyssexp. The custom
layers below remain: ``SeedAugmentation`` (``augmentation.placement: model``; load such models with
``abyssexp.load_model``) and ``BackbonePreprocess``, which checkpoints made before built-in
preprocessing carry and which must keep loading.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

#: Each backbone's ``preprocess_input`` mode: ``tf`` (to [-1, 1]), ``caffe`` (RGB→BGR, minus the
#: ImageNet means), ``torch`` (to [0, 1], then ImageNet mean/std) or ``none`` (the backbone
#: normalises inside itself: MobileNetV3, EfficientNet(V2), ConvNeXt).
PREPROCESS_MODES = {
    "xception": "tf",
    "inception_v3": "tf",
    "inception_resnet_v2": "tf",
    "mobilenet": "tf",
    "mobilenet_v2": "tf",
    "nasnet": "tf",
    "resnet_v2": "tf",
    "vgg16": "caffe",
    "vgg19": "caffe",
    "resnet": "caffe",
    "densenet": "torch",
    "mobilenet_v3": "none",
    "efficientnet": "none",
    "efficientnet_v2": "none",
    "convnext": "none",
}
_CAFFE_BGR_MEANS = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


def preprocessing_layers(backbone: str) -> list[Any]:
    """The backbone's ``preprocess_input`` as built-in Keras layers (0-255 RGB in).

    Equal to ``keras.applications.<module>.preprocess_input`` to float32 rounding (tested).
    """
    import numpy as np

    from abyssexp.models.backbones import get_backbone_spec

    mode = PREPROCESS_MODES[get_backbone_spec(backbone).module]
    if mode == "tf":
        return [keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess_scale")]
    if mode == "torch":
        return [
            keras.layers.Rescaling(1 / 255.0, name="preprocess_scale"),
            keras.layers.Normalization(
                mean=list(_TORCH_MEAN),
                variance=[s * s for s in _TORCH_STD],
                name="preprocess_normalize",
            ),
        ]
    if mode == "caffe":
        # RGB→BGR and the mean subtraction as one fixed 1×1 convolution.
        swap = np.zeros((1, 1, 3, 3), dtype="float32")
        for source, target in ((0, 2), (1, 1), (2, 0)):
            swap[0, 0, source, target] = 1.0
        layer = keras.layers.Conv2D(3, 1, name="preprocess_bgr", trainable=False)
        layer.build((None, None, None, 3))
        layer.set_weights([swap, -np.array(_CAFFE_BGR_MEANS, dtype="float32")])
        return [layer]
    return []


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


@keras.saving.register_keras_serializable(package="abyssexp")
class RandAugmentation(keras.layers.Layer):
    """Keras' ``RandAugment`` after ``SeedAugmentation`` (``augmentation.placement: model``),
    active only in training, each batch seeded from the layer's seed and its batch count."""

    def __init__(self, config: dict[str, Any], seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from abyssexp.augmentation.recipes import make_randaugment
        from abyssexp.schemas.params import RandAugmentParams

        self.config = dict(config)
        self.seed = seed
        self._params = RandAugmentParams.model_validate(self.config)
        self._layer = make_randaugment(self._params, seed)
        # A batch counter saved with the weights (a SeedGenerator's state is not): a resumed
        # run continues its seeds where the checkpoint left them.
        self._batches = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="batches"
        )

    def build(self, input_shape: Any) -> None:
        self._layer.build(input_shape)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training:
            return inputs
        from abyssexp.augmentation.recipes import apply_randaugment

        pair = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(self._batches, tf.int64)])
        self._batches.assign_add(1)
        out = apply_randaugment(self._layer, inputs, pair, self._params.rate)
        return tf.cast(out, inputs.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "config": self.config, "seed": self.seed}
