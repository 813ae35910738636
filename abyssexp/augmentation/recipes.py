"""RandAugment, MixUp and CutMix on training batches, from Keras 3's own layers.

They run after the seed's configuration. RandAugment changes images alone, so it follows
``augmentation.placement`` (the pipeline, or a layer at the front of the model); MixUp and CutMix
change the targets as well, which a layer inside the model never sees, so they always run in the
pipeline, on batches of (images, targets). Softmax targets are normalised, so a mixed target is a
convex combination that still sums to 1; multi-label (sigmoid) targets become per-class soft
targets in [0, 1], which binary cross-entropy takes as they are.

Keras' layers draw from their own seed generators. Each batch writes the stream's seed pair for
that batch into those generators before they draw, so the same batch of the same run always gets
the same draws, and a resumed run, which skips to its epoch in the same stream, gets those of the
uninterrupted run. The pipeline calls this map one batch at a time (the generators are shared).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import keras
import tensorflow as tf

if TYPE_CHECKING:
    from abyssexp.schemas.params import AugmentationParams, RandAugmentParams

#: ``fn(images, targets, seed int64[2]) -> (images, targets)`` on a training batch.
BatchRecipes = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]


def _reseed(layer: keras.layers.Layer, pair: tf.Tensor) -> None:
    """Set ``layer``'s seed generator (used for all its draws) to ``pair``."""
    state = layer.generator.state
    state.assign(tf.cast(pair, state.dtype))


def make_randaugment(params: RandAugmentParams, seed: int = 0) -> keras.layers.RandAugment:
    """Keras' ``RandAugment`` for 0-255 pixels from ``RandAugmentParams``."""
    return keras.layers.RandAugment(
        value_range=(0, 255), num_ops=params.num_ops, factor=params.magnitude, seed=seed
    )


def apply_randaugment(
    layer: keras.layers.RandAugment, images: tf.Tensor, pair: tf.Tensor, rate: float = 1.0
) -> tf.Tensor:
    """RandAugment a float32 batch (0-255); each image is picked with probability ``rate``.

    Keras draws the ops once per batch and their strengths per image.
    """
    images = tf.cast(images, tf.float32)
    seeds = tf.random.experimental.stateless_split(tf.cast(pair, tf.int64), 2)
    _reseed(layer, seeds[0])
    augmented = tf.cast(layer(images, training=True), tf.float32)
    if rate < 1.0:
        picked = tf.random.stateless_uniform([tf.shape(images)[0]], seed=seeds[1]) < rate
        augmented = tf.where(picked[:, None, None, None], augmented, images)
    return tf.clip_by_value(augmented, 0.0, 255.0)


def make_mixers(params: AugmentationParams, seed: int = 0) -> list[keras.layers.Layer]:
    """Keras' ``MixUp`` and/or ``CutMix`` layers for ``AugmentationParams`` (empty: neither)."""
    mixers = []
    if params.mixup is not None:
        mixers.append(keras.layers.MixUp(alpha=params.mixup.alpha, seed=seed))
    if params.cutmix is not None:
        alpha = params.cutmix.alpha
        mixers.append(keras.layers.CutMix(factor=(alpha, alpha), seed=seed))
    return mixers


def mix_with(
    layer: keras.layers.Layer,
    images: tf.Tensor,
    targets: tf.Tensor,
    pair: tf.Tensor,
    partners: tf.Tensor | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Mix a batch with one Keras mixing layer; ``partners`` (indices into the batch) fixes
    which image each one is mixed with (the preview), else Keras draws a permutation."""
    _reseed(layer, pair)
    images = tf.cast(images, tf.float32)
    targets = tf.cast(targets, tf.float32)
    drawn = layer.get_random_transformation({"images": images, "labels": targets}, training=True)
    if partners is not None:
        drawn["permutation_order"] = tf.cast(partners, drawn["permutation_order"].dtype)
    mixed = layer.transform_images(images, drawn, training=True)
    return tf.cast(mixed, tf.float32), tf.cast(layer.transform_labels(targets, drawn), tf.float32)


def mix_batch(
    mixers: list[keras.layers.Layer],
    images: tf.Tensor,
    targets: tf.Tensor,
    pair: tf.Tensor,
    partners: tf.Tensor | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """MixUp or CutMix a batch; with both on, each batch gets one of them (even odds)."""
    seeds = tf.random.experimental.stateless_split(tf.cast(pair, tf.int64), 2)
    if len(mixers) == 1:
        return mix_with(mixers[0], images, targets, seeds[0], partners)
    first = tf.random.stateless_uniform([], seed=seeds[1]) < 0.5
    return tf.cond(
        first,
        lambda: mix_with(mixers[0], images, targets, seeds[0], partners),
        lambda: mix_with(mixers[1], images, targets, seeds[0], partners),
    )


def batch_recipes(
    params: AugmentationParams, seed: int = 0, randaugment: bool = True
) -> BatchRecipes | None:
    """``fn(images, targets, pair) -> (images, targets)`` for ``make_tf_dataset(recipes=...)``,
    or None when nothing is on. ``randaugment`` False leaves RandAugment to the model."""
    layer = None
    if randaugment and params.randaugment is not None:
        layer = make_randaugment(params.randaugment, seed)
    mixers = make_mixers(params, seed)
    if layer is None and not mixers:
        return None
    rate = params.randaugment.rate if layer is not None and params.randaugment else 1.0

    def recipes(
        images: tf.Tensor, targets: tf.Tensor, pair: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        seeds = tf.random.experimental.stateless_split(tf.cast(pair, tf.int64), 2)
        images = tf.cast(images, tf.float32)
        if layer is not None:
            images = apply_randaugment(layer, images, seeds[0], rate)
        if mixers:
            images, targets = mix_batch(mixers, images, targets, seeds[1])
        return images, targets

    return recipes
