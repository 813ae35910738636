"""``tinycnn``: a backbone of three conv blocks, for smoke tests and CI on a CPU.

Like timm's ``test_*`` models: it trains and resumes like any backbone (convolutions, batch
normalization, a frozen phase) for a fraction of the cost of tracing a keras.applications
network, which is most of a tiny run's time. Built from plain Keras layers, so a saved model
loads with Keras alone. No ImageNet weights exist for it.
"""

from __future__ import annotations

from typing import Any

from abyssexp.errors import InvalidInputError

#: Filters of the three stride-2 blocks.
WIDTHS = (16, 32, 64)


def tiny_cnn(
    include_top: bool = False, weights: str | None = None, input_shape: Any = None, **_: Any
) -> Any:
    """A ``keras.applications``-shaped constructor: the feature map of three conv blocks
    (``include_top`` is ignored: abyssexp adds its own head).

    Raises:
        InvalidInputError: ``weights="imagenet"`` (there are none).
    """
    import keras

    if weights == "imagenet":
        raise InvalidInputError(
            "model.init_weights: tinycnn has no ImageNet weights; set it to none or a weights file"
        )
    inputs = keras.Input(shape=tuple(input_shape or (32, 32, 3)))
    x = inputs
    for index, width in enumerate(WIDTHS, start=1):
        x = keras.layers.Conv2D(
            width, 3, strides=2, padding="same", use_bias=False, name=f"block{index}_conv"
        )(x)
        x = keras.layers.BatchNormalization(name=f"block{index}_bn")(x)
        x = keras.layers.ReLU(name=f"block{index}_relu")(x)
    model = keras.Model(inputs, x, name="tinycnn")
    if weights:
        model.load_weights(weights)
    return model
