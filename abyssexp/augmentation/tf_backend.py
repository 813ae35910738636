"""The seed's augmentation configuration as batched, in-graph TensorFlow operations.

No per-image Python: every random draw is a stateless op seeded from one ``seed`` pair per batch,
so the same seed gives the same output. Each costly op (blur, noise, warp) runs only on the images
``some_of`` picked for it (gathered, transformed, scattered back); cheap gains multiply the whole
batch with 1 for unpicked images.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

GROUP_ORDER = ("gblur", "avgblur", "gnoise", "scale", "rotate", "bright", "colour_shift")


def _uniform(seed: tf.Tensor, shape: Any, low: float, high: float) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed=seed, minval=low, maxval=high)


def select_ops(seed: tf.Tensor, batch: tf.Tensor, n_ops: int, some_of: int | None) -> tf.Tensor:
    """A B×n boolean matrix: image i gets a random 0..some_of of the n group ops."""
    most = n_ops if some_of is None else min(some_of, n_ops)
    seeds = tf.random.experimental.stateless_split(seed, 2)
    count = tf.random.stateless_uniform(
        [batch], seed=seeds[0], minval=0, maxval=most + 1, dtype=tf.int32
    )
    scores = tf.random.stateless_uniform([batch, n_ops], seed=seeds[1])
    ranks = tf.argsort(tf.argsort(scores, axis=1), axis=1)
    return ranks < count[:, None]


def _on_subset(
    images: tf.Tensor, mask: tf.Tensor, fn: Callable[[tf.Tensor], tf.Tensor]
) -> tf.Tensor:
    """Apply ``fn`` to the images where ``mask`` is true, leaving the others untouched."""
    index = tf.where(mask)

    def apply() -> tf.Tensor:
        picked = tf.gather_nd(images, index)
        return tf.tensor_scatter_nd_update(images, index, fn(picked))

    return tf.cond(tf.size(index) > 0, apply, lambda: images)


def _depthwise_blur(images: tf.Tensor, kernels: tf.Tensor, radius: int) -> tf.Tensor:
    """Separable blur with a different 1-D kernel per image (kernels: b×(2r+1)), reflect padding.

    The batch is folded into channels so one depthwise convolution blurs every image with its own
    kernel.
    """
    shape = tf.shape(images)
    b, h, w = shape[0], shape[1], shape[2]
    folded = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [1, h, w, b * 3])
    per_channel = tf.repeat(kernels, 3, axis=0)  # (b*3, K)
    taps = 2 * radius + 1
    vertical = tf.reshape(tf.transpose(per_channel), [taps, 1, b * 3, 1])
    horizontal = tf.reshape(tf.transpose(per_channel), [1, taps, b * 3, 1])
    padded = tf.pad(folded, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    out = tf.nn.depthwise_conv2d(padded, vertical, [1, 1, 1, 1], "VALID")
    out = tf.nn.depthwise_conv2d(out, horizontal, [1, 1, 1, 1], "VALID")
    return tf.transpose(tf.reshape(out, [h, w, b, 3]), [2, 0, 1, 3])


def _blur_radius(images: tf.Tensor, wanted: int) -> int:
    height, width = images.shape[1], images.shape[2]
    limit = min(x for x in (height, width, 10**6) if x is not None) - 1
    return max(1, min(wanted, limit))


def gaussian_blur(images: tf.Tensor, seed: tf.Tensor, sigma: tuple[float, float]) -> tf.Tensor:
    radius = _blur_radius(images, int(math.ceil(3 * max(sigma[1], 0.1))))
    b = tf.shape(images)[0]
    s = tf.maximum(_uniform(seed, [b, 1], sigma[0], sigma[1]), 1e-3)
    x = tf.range(-radius, radius + 1, dtype=tf.float32)[None, :]
    kernels = tf.exp(-(x**2) / (2.0 * s**2))
    kernels /= tf.reduce_sum(kernels, axis=1, keepdims=True)
    return _depthwise_blur(images, kernels, radius)


def average_blur(images: tf.Tensor, seed: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    radius = _blur_radius(images, max(1, size[1] // 2))
    b = tf.shape(images)[0]
    k = tf.random.stateless_uniform(
        [b, 1], seed=seed, minval=size[0], maxval=size[1] + 1, dtype=tf.int32
    )
    x = tf.range(-radius, radius + 1)[None, :]
    low = -(k // 2)
    high = (k - 1) // 2
    kernels = tf.cast((x >= low) & (x <= high), tf.float32)
    kernels /= tf.reduce_sum(kernels, axis=1, keepdims=True)
    return _depthwise_blur(images, kernels, radius)


def gaussian_noise(images: tf.Tensor, seed: tf.Tensor, std: tuple[float, float]) -> tf.Tensor:
    seeds = tf.random.experimental.stateless_split(seed, 2)
    b = tf.shape(images)[0]
    scale = _uniform(seeds[0], [b, 1, 1, 1], std[0], std[1])
    noise = tf.random.stateless_normal(tf.shape(images), seed=seeds[1])
    return images + noise * scale


def affine_warp(images: tf.Tensor, zoom: tf.Tensor, angle_deg: tf.Tensor, cval: float) -> tf.Tensor:
    """Zoom (``zoom`` > 1 enlarges) and rotate about the centre, uncovered pixels set to ``cval``."""
    shape = tf.shape(images)
    h = tf.cast(shape[1], tf.float32)
    w = tf.cast(shape[2], tf.float32)
    cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
    theta = angle_deg * (math.pi / 180.0)
    cos, sin = tf.cos(theta) / zoom, tf.sin(theta) / zoom
    # Output (x, y) samples input (cos*(x-cx) + sin*(y-cy) + cx, -sin*(x-cx) + cos*(y-cy) + cy).
    a0, a1, a2 = cos, sin, cx - cos * cx - sin * cy
    b0, b1, b2 = -sin, cos, cy + sin * cx - cos * cy
    zeros = tf.zeros_like(cos)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=shape[1:3],
        fill_value=float(cval),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def augment_batch(images: tf.Tensor, seed: tf.Tensor, params: Any) -> tf.Tensor:
    """Augment a float32 batch (0-255) with ``AugmentationParams``; returns float32 clipped 0-255.

    Args:
        images: B×H×W×3 float32 pixels.
        seed: an int32/int64 pair; the same pair gives the same output.
        params: ``AugmentationParams`` (or anything with the same attributes).
    """
    seed = tf.cast(seed, tf.int64)
    images = tf.convert_to_tensor(images, tf.float32)
    b = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, 16)
    if params.flip_lr:
        flip = tf.random.stateless_uniform([b], seed=seeds[0]) < 0.5
        images = tf.where(flip[:, None, None, None], tf.reverse(images, [2]), images)
    if params.flip_ud:
        flip = tf.random.stateless_uniform([b], seed=seeds[1]) < 0.5
        images = tf.where(flip[:, None, None, None], tf.reverse(images, [1]), images)
    ops = params.group_ops()
    if not ops:
        return tf.clip_by_value(images, 0.0, 255.0)
    chosen = select_ops(seeds[2], b, len(ops), params.some_of)
    picked = {name: chosen[:, i] for i, name in enumerate(ops)}

    if "gblur" in picked:
        images = _on_subset(
            images, picked["gblur"], lambda x: gaussian_blur(x, seeds[3], params.gblur)
        )
    if "avgblur" in picked:
        images = _on_subset(
            images, picked["avgblur"], lambda x: average_blur(x, seeds[4], params.avgblur)
        )
    if "gnoise" in picked:
        images = _on_subset(
            images, picked["gnoise"], lambda x: gaussian_noise(x, seeds[5], params.gnoise)
        )
    if "scale" in picked or "rotate" in picked:
        zoom = tf.ones([b])
        angle = tf.zeros([b])
        warp = tf.zeros([b], tf.bool)
        if "scale" in picked:
            draw = _uniform(seeds[6], [b], *params.scale)
            zoom = tf.where(picked["scale"], draw, zoom)
            warp |= picked["scale"]
        if "rotate" in picked:
            draw = _uniform(seeds[7], [b], *params.rotate)
            angle = tf.where(picked["rotate"], draw, angle)
            warp |= picked["rotate"]
        index = tf.where(warp)

        def do_warp() -> tf.Tensor:
            warped = affine_warp(
                tf.gather_nd(images, index),
                tf.gather_nd(zoom, index),
                tf.gather_nd(angle, index),
                params.cval,
            )
            return tf.tensor_scatter_nd_update(images, index, warped)

        images = tf.cond(tf.size(index) > 0, do_warp, lambda: images)
    gain = tf.ones([b, 1, 1, 3])
    if "bright" in picked:
        factor = _uniform(seeds[8], [b, 1, 1, 1], *params.bright)
        gain *= tf.where(picked["bright"][:, None, None, None], factor, 1.0)
    if "colour_shift" in picked:
        factor = _uniform(seeds[9], [b, 1, 1, 3], *params.colour_shift)
        gain *= tf.where(picked["colour_shift"][:, None, None, None], factor, 1.0)
    if "bright" in picked or "colour_shift" in picked:
        images = images * gain
    return tf.clip_by_value(images, 0.0, 255.0)


def batch_augmenter(params: Any) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """``fn(images, seed)`` for ``make_tf_dataset(augment=...)``."""
    return lambda images, seed: augment_batch(images, seed, params)


def image_augmenter(params: Any, seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """A per-image numpy augmenter (eager) for the seed's ``augmentation_gen``."""
    counter = [0]

    @tf.function(reduce_retracing=True)
    def run(image: tf.Tensor, pair: tf.Tensor) -> tf.Tensor:
        return augment_batch(tf.cast(image, tf.float32)[None], pair, params)[0]

    def augment(image: np.ndarray) -> np.ndarray:
        counter[0] += 1
        out = run(tf.convert_to_tensor(image), tf.constant([seed, counter[0]], tf.int64))
        return np.round(out.numpy()).astype(np.uint8)

    return augment


NOISE_BANK_FIELDS = 8
NOISE_BANK_MARGIN = 32


def noise_bank(height: int, width: int, seed: int = 0) -> tf.Tensor:
    """A bank of iid N(0, 1) fields, slightly larger than the image, generated once.

    Per-image Gaussian noise costs ~2 ms per 299×299 image on one CPU core (``stateless_normal``);
    a random crop of a bank field, randomly flipped and with its channels permuted, costs a
    fraction of that. Each image's noise is still exactly iid Gaussian with the drawn standard
    deviation; what is given up is independence between images (their noise comes from the same
    8 fields at random offsets), which does not matter for augmentation.
    """
    return tf.random.stateless_normal(
        [NOISE_BANK_FIELDS, height + NOISE_BANK_MARGIN, width + NOISE_BANK_MARGIN, 3],
        seed=[seed, 7919],
    )


def bank_noise(bank: tf.Tensor, seed: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """One H×W×3 crop of the bank at a random field, offset, flip and channel order."""
    seeds = tf.random.experimental.stateless_split(seed, 5)
    field = tf.random.stateless_uniform([], seed=seeds[0], maxval=NOISE_BANK_FIELDS, dtype=tf.int32)
    dy = tf.random.stateless_uniform(
        [], seed=seeds[1], maxval=NOISE_BANK_MARGIN + 1, dtype=tf.int32
    )
    dx = tf.random.stateless_uniform(
        [], seed=seeds[2], maxval=NOISE_BANK_MARGIN + 1, dtype=tf.int32
    )
    crop = bank[field, dy : dy + height, dx : dx + width, :]
    crop = tf.cond(
        tf.random.stateless_uniform([], seed=seeds[3]) < 0.5,
        lambda: tf.reverse(crop, [1]),
        lambda: crop,
    )
    order = tf.argsort(tf.random.stateless_uniform([3], seed=seeds[4]))
    return tf.gather(crop, order, axis=2)


def zoom_about_centre(images: tf.Tensor, zoom: tf.Tensor, cval: float) -> tf.Tensor:
    """The affine zoom of ``affine_warp`` without rotation, through ``crop_and_resize`` (about
    half the cost of a projective warp on a CPU; only the outermost pixel ring can differ)."""
    half = 0.5 / zoom
    boxes = tf.stack([0.5 - half, 0.5 - half, 0.5 + half, 0.5 + half], axis=1)
    size = tf.shape(images)[1:3]
    indices = tf.range(tf.shape(images)[0])
    return tf.image.crop_and_resize(images, boxes, indices, size, extrapolation_value=float(cval))


def augment_image(
    image: tf.Tensor, seed: tf.Tensor, params: Any, bank: tf.Tensor | None = None
) -> tf.Tensor:
    """Augment one H×W×3 image (any dtype, 0-255) inside a parallel tf.data map.

    The same semantics as ``augment_batch``, for ``placement: pipeline``: each image is its own
    graph call, so ``tf.cond`` skips every op ``some_of`` did not pick (no work at all, where a
    batch would copy the whole tensor), flips run on the uint8 pixels, and the tf.data map spreads
    images over the CPU cores. Returns float32 0-255.
    """
    seed = tf.cast(seed, tf.int64)
    seeds = tf.random.experimental.stateless_split(seed, 16)
    if params.flip_lr:
        flip = tf.random.stateless_uniform([], seed=seeds[0]) < 0.5
        image = tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)
    if params.flip_ud:
        flip = tf.random.stateless_uniform([], seed=seeds[1]) < 0.5
        image = tf.cond(flip, lambda: tf.reverse(image, [0]), lambda: image)
    image = tf.cast(image, tf.float32)
    ops = params.group_ops()
    if not ops:
        return image
    chosen = select_ops(seeds[2], 1, len(ops), params.some_of)[0]
    picked = {name: chosen[i] for i, name in enumerate(ops)}
    batch = image[None]

    def maybe(name: str, fn: Callable[[tf.Tensor], tf.Tensor], x: tf.Tensor) -> tf.Tensor:
        return tf.cond(picked[name], lambda: fn(x), lambda: x) if name in picked else x

    batch = maybe("gblur", lambda x: gaussian_blur(x, seeds[3], params.gblur), batch)
    batch = maybe("avgblur", lambda x: average_blur(x, seeds[4], params.avgblur), batch)
    if bank is None:
        batch = maybe("gnoise", lambda x: gaussian_noise(x, seeds[5], params.gnoise), batch)
    else:
        height, width = image.shape[0], image.shape[1]

        def add_bank_noise(x: tf.Tensor) -> tf.Tensor:
            std = _uniform(seeds[10], [], *params.gnoise)
            return x + bank_noise(bank, seeds[5], height, width)[None] * std

        batch = maybe("gnoise", add_bank_noise, batch)
    if "scale" in picked or "rotate" in picked:
        zoom = tf.ones([1])
        angle = tf.zeros([1])
        if "scale" in picked:
            zoom = tf.where(picked["scale"], _uniform(seeds[6], [1], *params.scale), zoom)
        if "rotate" in picked:
            angle = tf.where(picked["rotate"], _uniform(seeds[7], [1], *params.rotate), angle)
        rotated = picked["rotate"] if "rotate" in picked else tf.constant(False)
        scaled = picked["scale"] if "scale" in picked else tf.constant(False)
        batch = tf.cond(
            rotated,
            lambda: affine_warp(batch, zoom, angle, params.cval),
            lambda: tf.cond(
                scaled, lambda: zoom_about_centre(batch, zoom, params.cval), lambda: batch
            ),
        )
    if "bright" in picked or "colour_shift" in picked:
        gain = tf.ones([1, 1, 1, 3])
        if "bright" in picked:
            factor = _uniform(seeds[8], [1, 1, 1, 1], *params.bright)
            gain *= tf.where(picked["bright"], factor, 1.0)
        if "colour_shift" in picked:
            factor = _uniform(seeds[9], [1, 1, 1, 3], *params.colour_shift)
            gain *= tf.where(picked["colour_shift"], factor, 1.0)
        batch = batch * gain
    return tf.clip_by_value(batch[0], 0.0, 255.0)


def image_augmenter_fn(
    params: Any, input_size: tuple[int, int] | None = None, seed: int = 0
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """``fn(image, seed)`` for ``make_tf_dataset(augment_image=...)``; with ``input_size`` and
    ``gnoise`` on, the noise comes from a bank made once (see ``noise_bank``)."""
    bank = None
    if input_size is not None and params.gnoise is not None:
        bank = noise_bank(input_size[0], input_size[1], seed)
    return lambda image, pair: augment_image(image, pair, params, bank)
