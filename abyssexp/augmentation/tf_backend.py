"""The seed's augmentation configuration as in-graph TensorFlow operations, two ways.

- ``augment_image`` (``placement: pipeline``, the default): one image per call inside the
  parallel ``tf.data`` map, from the decoded file: ``tf.cond`` skips every op ``some_of`` did not
  pick, and resizing, flips, zoom and rotation are one resampling.
- ``augment_batch`` (``placement: model``): the batch at the front of the model, where an
  accelerator runs it; each costly op (blur, noise, warp) touches only the images ``some_of``
  picked (gathered, transformed, scattered back).

No per-image Python: every random draw is a stateless op seeded from a ``seed`` pair, so the same
seed gives the same output. Both apply geometry first, then blur, noise and gains.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import tensorflow as tf

if TYPE_CHECKING:
    from abyssexp.schemas.params import AugmentationParams


Setting = TypeVar("Setting")


def _set(value: Setting | None) -> Setting:
    """An op's range: ``ops`` names only the ops whose range is set (checked while tracing)."""
    if value is None:
        raise ValueError("an augmentation op was picked without its range")
    return value


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


def augment_batch(images: tf.Tensor, seed: tf.Tensor, params: AugmentationParams) -> tf.Tensor:
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
    ops = _group_ops(params)
    if not ops:
        return tf.clip_by_value(images, 0.0, 255.0)
    chosen = select_ops(seeds[2], b, len(ops), params.some_of)
    picked = {name: chosen[:, i] for i, name in enumerate(ops)}

    # Geometry first, as augment_image does (there it is fused with the resize).
    if "scale" in picked or "rotate" in picked:
        zoom = tf.ones([b])
        angle = tf.zeros([b])
        warp = tf.zeros([b], tf.bool)
        if "scale" in picked:
            draw = _uniform(seeds[6], [b], *_set(params.scale))
            zoom = tf.where(picked["scale"], draw, zoom)
            warp |= picked["scale"]
        if "rotate" in picked:
            draw = _uniform(seeds[7], [b], *_set(params.rotate))
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
    if "gblur" in picked:
        images = _on_subset(
            images, picked["gblur"], lambda x: gaussian_blur(x, seeds[3], _set(params.gblur))
        )
    if "avgblur" in picked:
        images = _on_subset(
            images, picked["avgblur"], lambda x: average_blur(x, seeds[4], _set(params.avgblur))
        )
    if "gnoise" in picked:
        images = _on_subset(
            images, picked["gnoise"], lambda x: gaussian_noise(x, seeds[5], _set(params.gnoise))
        )
    gain = tf.ones([b, 1, 1, 3])
    if "bright" in picked:
        factor = _uniform(seeds[8], [b, 1, 1, 1], *_set(params.bright))
        gain *= tf.where(picked["bright"][:, None, None, None], factor, 1.0)
    if "colour_shift" in picked:
        factor = _uniform(seeds[9], [b, 1, 1, 3], *_set(params.colour_shift))
        gain *= tf.where(picked["colour_shift"][:, None, None, None], factor, 1.0)
    if "bright" in picked or "colour_shift" in picked:
        images = images * gain
    return tf.clip_by_value(images, 0.0, 255.0)


def batch_augmenter(params: AugmentationParams) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """``fn(images, seed)`` for ``make_tf_dataset(augment=...)``."""
    return lambda images, seed: augment_batch(images, seed, params)


def image_augmenter(
    params: AugmentationParams, seed: int = 0
) -> Callable[[np.ndarray], np.ndarray]:
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
    a random crop of a bank field, randomly flipped either way, costs a tenth of that. Each
    image's noise is still exactly iid Gaussian with the drawn standard
    deviation; what is given up is independence between images (their noise comes from the same
    8 fields at random offsets), which does not matter for augmentation.
    """
    return tf.random.stateless_normal(
        [NOISE_BANK_FIELDS, height + NOISE_BANK_MARGIN, width + NOISE_BANK_MARGIN, 3],
        seed=[seed, 7919],
    )


def bank_noise(bank: tf.Tensor, draws: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """One H×W×3 crop of the bank at a random field, offset and flips, from 5 uniform ``draws``
    in [0, 1) (8 fields × 33² offsets × 4 flips: 34,848 distinct fields; a channel permutation
    would add 6× more but costs as much as all the rest, a gather along the last axis)."""
    fields, rows, cols = bank.shape[0], bank.shape[1], bank.shape[2]
    limits = tf.constant([fields, rows - height + 1, cols - width + 1], tf.float32)
    field, dy, dx = tf.unstack(tf.cast(draws[:3] * limits, tf.int32))
    crop = bank[field, dy : dy + height, dx : dx + width, :]
    crop = _flip(crop, draws[3] < 0.5, 1)
    return _flip(crop, draws[4] < 0.5, 0)


def zoom_about_centre(
    image: tf.Tensor, zoom: tf.Tensor, output_size: tuple[int, int], cval: float
) -> tf.Tensor:
    """Resize a 1×H×W×3 float image to ``output_size`` zoomed by ``zoom`` about its centre, with
    ``tf.image.resize`` alone: zooming in resizes a centred crop, zooming out resizes to a smaller
    size and pads with ``cval``. A third of the cost of ``crop_and_resize`` on a CPU. Crop and
    padding are whole pixels, equal on both sides so the centre stays put: the zoom is exact to
    two pixels in the image size (under 1 % at 299×299).
    """
    size = tf.shape(image)[1:3]
    out = tf.constant(output_size)
    zoom = tf.cast(zoom, tf.float32)

    def centred(total: tf.Tensor, share: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """A centred span of about ``share`` × ``total`` pixels: (margin each side, span)."""
        margin = tf.round(tf.cast(total, tf.float32) * (1.0 - share) / 2.0)
        margin = tf.clip_by_value(tf.cast(margin, tf.int32), 0, (total - 1) // 2)
        return margin, total - 2 * margin

    start, crop = centred(size, tf.minimum(1.0 / zoom, 1.0))
    cropped = image[:, start[0] : start[0] + crop[0], start[1] : start[1] + crop[1], :]
    margin, inner = centred(out, tf.minimum(zoom, 1.0))
    resized = tf.image.resize(cropped, inner)
    paddings = tf.stack([[0, 0], [margin[0], margin[0]], [margin[1], margin[1]], [0, 0]])
    return tf.pad(resized, paddings, constant_values=float(cval))


def resampling_transform(
    source_size: tf.Tensor,
    output_size: tuple[int, int],
    zoom: tf.Tensor,
    angle_deg: tf.Tensor,
    flip_lr: tf.Tensor | bool = False,
    flip_ud: tf.Tensor | bool = False,
) -> tf.Tensor:
    """The 1×8 projective transform (output pixel → source pixel) of resize, flip, then zoom and
    rotate about the centre, composed into one map so the image is resampled once.

    Resizing follows ``tf.image.resize`` (half-pixel centres): output-space coordinate ``q`` reads
    source coordinate ``(q + 0.5) * source / output - 0.5``. Flips mirror the source.
    """
    out = np.array([output_size[1], output_size[0]], np.float32)  # (x, y) order from here on
    src = tf.cast(tf.reverse(source_size, [0]), tf.float32)
    scale = src / out
    centre = (out - 1.0) / 2.0
    theta = tf.cast(angle_deg, tf.float32) * (math.pi / 180.0)
    zoom = tf.cast(zoom, tf.float32)
    cos, sin = tf.cos(theta) / zoom, tf.sin(theta) / zoom
    # Zoom and rotation about the output centre (as affine_warp), then to source pixels.
    rotation = tf.reshape(tf.stack([cos, sin, -sin, cos]), [2, 2])
    linear = scale[:, None] * rotation
    offset = scale * (centre - tf.linalg.matvec(rotation, centre)) + 0.5 * scale - 0.5
    if flip_lr is not False or flip_ud is not False:
        flips = tf.stack([tf.convert_to_tensor(flip_lr), tf.convert_to_tensor(flip_ud)])
        sign = tf.where(flips, -1.0, 1.0)
        linear = sign[:, None] * linear
        offset = sign * offset + tf.where(flips, src - 1.0, 0.0)
    rows = tf.concat([linear, offset[:, None]], axis=1)
    return tf.concat([tf.reshape(rows, [1, 6]), tf.zeros([1, 2])], axis=1)


def _flip(image: tf.Tensor, flip: tf.Tensor | bool, axis: int) -> tf.Tensor:
    if flip is False:
        return image
    return tf.cond(flip, lambda: tf.reverse(image, [axis]), lambda: image)


# Where each of augment_image's uniform draws sits in its one random vector.
_FLIP_LR, _FLIP_UD, _COUNT, _ZOOM, _ANGLE, _BRIGHT, _NOISE_STD = range(7)
_COLOUR = slice(7, 10)
_BANK = slice(10, 15)
_SCORES = 15


def augment_image(
    image: tf.Tensor,
    seed: tf.Tensor,
    params: AugmentationParams,
    bank: tf.Tensor | None = None,
    output_size: tuple[int, int] | None = None,
) -> tf.Tensor:
    """Augment one H×W×3 image (any dtype, 0-255) inside a parallel tf.data map.

    The same semantics as ``augment_batch``, for ``placement: pipeline``: each image is its own
    graph call, so ``tf.cond`` skips every op ``some_of`` did not pick (no work at all, where a
    batch would copy the whole tensor), and the tf.data map spreads images over the CPU cores.
    Every random value comes from one stateless draw: per image, a graph of a few dozen small
    ops costs as much as the pixel work of a cheap op.

    With ``output_size`` the image may be the decoded file at any size: resizing, flips, zoom and
    rotation are then one resampling (a projective warp when rotated, a resize of a crop or to a
    padded smaller size when only zoomed, a plain resize otherwise) instead of a resize followed
    by a warp. Geometry comes
    first, then blur, noise and gains, so noise keeps its drawn standard deviation and blur sigma
    is in input pixels. Returns float32 0-255 of ``output_size`` (default: the image's own size).
    """
    if output_size is None:
        output_size = (int(image.shape[0]), int(image.shape[1]))
    out_h, out_w = output_size
    seed = tf.cast(seed, tf.int64)
    ops = _group_ops(params)
    draws = tf.random.stateless_uniform([_SCORES + len(ops)], seed=seed)
    low, high = _draw_ranges(params)
    values = low + (high - low) * draws[:_SCORES]
    flip_lr: tf.Tensor | bool = draws[_FLIP_LR] < 0.5 if params.flip_lr else False
    flip_ud: tf.Tensor | bool = draws[_FLIP_UD] < 0.5 if params.flip_ud else False
    picked = _picked_ops(ops, draws, params.some_of)
    # float32 from the start: the warp needs it (its uint8 kernel is slower), and measured in the
    # pipeline, resizing from float32 here beats resize_bilinear's uint8 choice for large files.
    source = tf.cast(image, tf.float32)[None]
    batch = _geometry(source, picked, values, (flip_lr, flip_ud), output_size, params)
    batch = tf.ensure_shape(batch, [1, out_h, out_w, 3])
    batch = _pixel_ops(batch, picked, values, draws, seed, bank, params)
    return tf.clip_by_value(batch[0], 0.0, 255.0)


def _picked_ops(ops: list[str], draws: tf.Tensor, some_of: int | None) -> dict[str, tf.Tensor]:
    """Each image gets a random 0..most of the group: the ops whose score ranks below the count."""
    if not ops:
        return {}
    most = len(ops) if some_of is None else min(some_of, len(ops))
    count = tf.floor(draws[_COUNT] * (most + 1))
    scores = draws[_SCORES:]
    ranks = tf.reduce_sum(tf.cast(scores[None, :] < scores[:, None], tf.float32), axis=1)
    chosen = tf.unstack(ranks < count)
    return dict(zip(ops, chosen, strict=True))


def _geometry(
    source: tf.Tensor,
    picked: dict[str, tf.Tensor],
    values: tf.Tensor,
    flips: tuple[tf.Tensor | bool, tf.Tensor | bool],
    output_size: tuple[int, int],
    params: AugmentationParams,
) -> tf.Tensor:
    """Resize, flips, zoom and rotation of a 1×H×W×3 float32 source in one resampling."""
    out_h, out_w = output_size
    flip_lr, flip_ud = flips
    same_size = tuple(source.shape[1:3]) == (out_h, out_w)

    def resize_and_flip() -> tf.Tensor:
        out = source if same_size else tf.image.resize(source, output_size)
        # Reversing a 3-D tensor costs a sixth of reversing the same pixels as a 4-D batch.
        out = tf.reshape(out, [out_h, out_w, 3])
        return _flip(_flip(out, flip_lr, 1), flip_ud, 0)[None]

    if "scale" not in picked and "rotate" not in picked:
        return resize_and_flip()
    zoom = tf.where(picked["scale"], values[_ZOOM], 1.0) if "scale" in picked else 1.0
    angle = tf.where(picked["rotate"], values[_ANGLE], 0.0) if "rotate" in picked else 0.0

    def warp() -> tf.Tensor:
        transform = resampling_transform(
            tf.shape(source)[1:3], output_size, zoom, angle, flip_lr, flip_ud
        )
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=source,
            transforms=transform,
            output_shape=[out_h, out_w],
            fill_value=float(params.cval),
            interpolation="BILINEAR",
            fill_mode="CONSTANT",
        )

    def crop() -> tf.Tensor:
        zoomed = zoom_about_centre(source, zoom, output_size, params.cval)
        zoomed = tf.reshape(zoomed, [out_h, out_w, 3])
        return _flip(_flip(zoomed, flip_lr, 1), flip_ud, 0)[None]

    branches = [resize_and_flip]
    which = tf.constant(0)
    if "scale" in picked:
        branches.append(crop)
        which = tf.where(picked["scale"], len(branches) - 1, which)
    if "rotate" in picked:
        branches.append(warp)
        which = tf.where(picked["rotate"], len(branches) - 1, which)
    return tf.switch_case(which, branches)


def _pixel_ops(
    batch: tf.Tensor,
    picked: dict[str, tf.Tensor],
    values: tf.Tensor,
    draws: tf.Tensor,
    seed: tf.Tensor,
    bank: tf.Tensor | None,
    params: AugmentationParams,
) -> tf.Tensor:
    """Blur, noise and gains of the picked ops on a 1×H×W×3 float32 batch."""
    out_h, out_w = int(batch.shape[1]), int(batch.shape[2])

    def maybe(name: str, fn: Callable[[tf.Tensor], tf.Tensor], x: tf.Tensor) -> tf.Tensor:
        return tf.cond(picked[name], lambda: fn(x), lambda: x) if name in picked else x

    # For the ops that draw their own values (blurs, fresh noise without a bank): gblur and
    # avgblur never both run, and gaussian_noise draws from split children of it.
    op_seed = seed + tf.constant([0, 104729], tf.int64)
    batch = maybe("gblur", lambda x: gaussian_blur(x, op_seed, _set(params.gblur)), batch)
    batch = maybe("avgblur", lambda x: average_blur(x, op_seed, _set(params.avgblur)), batch)
    if bank is None:
        batch = maybe("gnoise", lambda x: gaussian_noise(x, op_seed, _set(params.gnoise)), batch)
    else:

        def add_bank_noise(x: tf.Tensor) -> tf.Tensor:
            noise = bank_noise(bank, draws[_BANK], out_h, out_w)
            return x + noise[None] * values[_NOISE_STD]

        batch = maybe("gnoise", add_bank_noise, batch)
    if "bright" in picked or "colour_shift" in picked:
        gain = tf.ones([3])
        if "bright" in picked:
            gain *= tf.where(picked["bright"], values[_BRIGHT], 1.0)
        if "colour_shift" in picked:
            gain *= tf.where(picked["colour_shift"], values[_COLOUR], 1.0)
        # A per-channel gain as a 3×3 diagonal matmul: Eigen's broadcast over a trailing axis of
        # 3 costs about twice as much on a CPU.
        pixels = tf.matmul(tf.reshape(batch, [-1, 3]), tf.linalg.diag(gain))
        batch = tf.reshape(pixels, [1, out_h, out_w, 3])
    return batch


@tf.autograph.experimental.do_not_convert
def _group_ops(params: AugmentationParams) -> list[str]:
    """``params.group_ops()`` run as plain Python inside a graph function: left to autograph,
    the pydantic model's methods were sometimes converted too, and a converted field validator
    failed (``tf___gain() missing 2 required positional arguments``) depending on which graphs
    the process had traced before."""
    return params.group_ops()


def _draw_ranges(params: AugmentationParams) -> tuple[np.ndarray, np.ndarray]:
    """Low and high ends for the first ``_SCORES`` draws (0..1 where a slot is not a range)."""
    low = np.zeros(_SCORES, np.float32)
    high = np.ones(_SCORES, np.float32)
    for index, name in (
        (_ZOOM, "scale"),
        (_ANGLE, "rotate"),
        (_BRIGHT, "bright"),
        (_NOISE_STD, "gnoise"),
        (_COLOUR, "colour_shift"),
    ):
        value = getattr(params, name)
        if value is not None:
            low[index], high[index] = value
    return low, high


def image_augmenter_fn(
    params: AugmentationParams, input_size: tuple[int, int], seed: int = 0
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """``fn(image, seed)`` for ``make_tf_dataset(augment_image=...)``: any-size uint8 image in,
    float32 ``input_size`` image out; with ``gnoise`` on, the noise comes from a bank made once
    (see ``noise_bank``)."""
    bank = None
    if params.gnoise is not None:
        bank = noise_bank(input_size[0], input_size[1], seed)
    return lambda image, pair: augment_image(image, pair, params, bank, input_size)
