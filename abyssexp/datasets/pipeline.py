"""The fast path: an ``ImageClassificationDataset`` as a ``tf.data.Dataset`` of (images, targets).

Parallel read/decode/resize with ``AUTOTUNE``; JPEGs at least twice the input size are decoded with
libjpeg's DCT downscaling (``ratio`` 2, 4 or 8), which skips most of the decode work; a seeded
shuffle that changes every epoch; batching and prefetch. Images are resized once and carried as
uint8 so that ``cache_val`` can hold the **whole** decoded validation set in memory: from the
second epoch on, validation never decodes a JPEG.

Files that TensorFlow's decoders would read differently from Pillow (EXIF-rotated, CMYK, 16-bit,
palette, other formats) are decoded by ``read_image`` inside the graph, so both paths agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from abyssexp.datasets.coco import ImageClassificationDataset
from abyssexp.datasets.images import probe_image, read_image
from abyssexp.errors import DatasetError, first_few

_KIND_PNG = 4
_KIND_PIL = 5
_JPEG_RATIOS = (1, 2, 4, 8)


@dataclass(frozen=True)
class PipelineSpec:
    """How to turn a dataset into batches."""

    input_size: tuple[int, int]
    batch_size: int
    training: bool = False
    seed: int = 0
    cache: bool = False  # keep decoded, resized images in memory after the first pass
    repeat: bool = False
    normalise_targets: bool = False
    parallel_calls: int | None = None
    dct_scaling: bool = True
    deterministic: bool | None = None
    drop_remainder: bool = False


def probe_all(paths: Sequence[Path], workers: int = 8) -> list[Any]:
    """Read every image header in parallel (fast: no pixels are decoded).

    Raises:
        DatasetError: some files are missing, unreadable or larger than the pixel limit: the
            first one's reason, the first few names and how many, before TensorFlow decodes any
            (its decoder would stop the run mid-epoch, or allocate what a 65000×65000 header asks).
    """

    def probe(path: Path) -> Any:
        try:
            return probe_image(path)
        except DatasetError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        probes = list(pool.map(probe, paths))
    failed = [
        (path, probe)
        for path, probe in zip(paths, probes, strict=True)
        if isinstance(probe, DatasetError)
    ]
    if failed:
        first = str(failed[0][1])
        more = (
            f" ({len(failed)} image files fail: {first_few([Path(p).name for p, _ in failed])}; "
            "`abyssexp data check` lists them)"
            if len(failed) > 1
            else ""
        )
        raise DatasetError(first + more)
    return probes


def decode_plan(
    paths: Sequence[Path], input_size: tuple[int, int], dct_scaling: bool = True
) -> np.ndarray:
    """Per image: 0-3 JPEG with DCT ratio 1/2/4/8, 4 PNG, 5 Pillow."""
    height, width = input_size
    plan = np.empty(len(paths), dtype=np.int32)
    for i, probe in enumerate(probe_all(paths)):
        if probe.kind == "png":
            plan[i] = _KIND_PNG
        elif probe.kind == "jpeg":
            index = 0
            if dct_scaling:
                for j, ratio in enumerate(_JPEG_RATIOS):
                    if probe.width / ratio >= width and probe.height / ratio >= height:
                        index = j
            plan[i] = index
        else:
            plan[i] = _KIND_PIL
    return plan


def _read_with_pillow(path: Any) -> np.ndarray:
    if isinstance(path, np.ndarray):
        path = path.item()
    return read_image(path.decode() if isinstance(path, bytes) else str(path))


def decode_image(path: tf.Tensor, kind: tf.Tensor | int) -> tf.Tensor:
    """Decode one image file to uint8 H×W×3 following its ``decode_plan`` entry.

    A Python ``int`` kind (every image of the dataset decodes the same way, the common case)
    builds that decoder alone; a tensor kind chooses per image with ``tf.switch_case``.
    """

    def jpeg(ratio: int) -> Callable[[], tf.Tensor]:
        return lambda: tf.io.decode_jpeg(
            tf.io.read_file(path), channels=3, ratio=ratio, dct_method="INTEGER_ACCURATE"
        )

    def png() -> tf.Tensor:
        return tf.io.decode_png(tf.io.read_file(path), channels=3, dtype=tf.uint8)

    def pillow() -> tf.Tensor:
        image = tf.numpy_function(_read_with_pillow, [path], tf.uint8, stateful=False)
        return tf.ensure_shape(image, [None, None, 3])

    branches = [jpeg(r) for r in _JPEG_RATIOS] + [png, pillow]
    image = branches[kind]() if isinstance(kind, int) else tf.switch_case(kind, branches)
    image.set_shape([None, None, 3])
    return image


def resize_bilinear(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Bilinear resize (half-pixel centres, as ``tf.image.resize``) to float32.

    A uint8 image is cast to float32 first when it has at most twice the output's pixels: the
    same result, but TensorFlow's kernel converts every source read otherwise (measured in the
    pipeline: 1.12 × faster for 320×240 → 224², while casting a 640×480 source for 299² costs
    more than it saves, 0.92 ×).
    """
    if image.dtype == tf.float32:
        return tf.image.resize(image, size)
    limit = 2 * size[0] * size[1]
    height, width = image.shape[-3], image.shape[-2]
    if height is not None and width is not None and all(isinstance(v, int) for v in size):
        small = height * width <= limit
        return tf.image.resize(tf.cast(image, tf.float32) if small else image, size)
    shape = tf.shape(image)
    return tf.cond(
        shape[-3] * shape[-2] <= limit,
        lambda: tf.image.resize(tf.cast(image, tf.float32), size),
        lambda: tf.image.resize(image, size),
    )


def resize_uint8(image: tf.Tensor, input_size: tuple[int, int]) -> tf.Tensor:
    """Bilinear resize to ``input_size``, rounded back to uint8 (identical for every path)."""
    resized = resize_bilinear(image, input_size)
    # Bilinear weights are convex: uint8 pixels in, values in 0..255 out, so no clip is needed.
    return tf.cast(tf.round(resized), tf.uint8)


def make_tf_dataset(
    dataset: ImageClassificationDataset,
    spec: PipelineSpec,
    augment: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None = None,
    preprocess: Callable[[tf.Tensor], tf.Tensor] | None = None,
    augment_image: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None = None,
    plan: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Build the input pipeline.

    Args:
        dataset: images and labels.
        spec: sizes, batching, caching and shuffling.
        augment: batched ``fn(images float32 0-255, seed int64[2]) -> images``, training only.
        augment_image: per-image ``fn(image uint8 of any size, seed int64[2]) -> float32 image of
            spec.input_size``, training only, the fast choice on CPUs: without ``spec.cache`` it
            runs in the decoding map on the decoded file and does the resizing itself; with it,
            on the cached, resized images.
        preprocess: batched backbone normalisation (omit when the model does it itself).
        plan: ``decode_plan`` of the dataset for this spec, when already known (it reads every
            image header).

    Returns:
        A dataset of ``(float32 images B×H×W×3, float32 targets B×K)``.
    """
    parallel = spec.parallel_calls or tf.data.AUTOTUNE
    paths = [str(p) for p in dataset.image_paths]
    if plan is None:
        plan = decode_plan(dataset.image_paths, spec.input_size, spec.dct_scaling)
    targets = dataset.multihot(normalise=spec.normalise_targets)
    elements = tf.data.Dataset.from_tensor_slices((paths, plan, targets))
    # Shuffle file names before decoding (cheap), except when caching decoded images: then the
    # cache comes first and the shuffle after it, so every epoch still sees a new order.
    shuffle_after_cache = spec.training and spec.cache
    if spec.training and not shuffle_after_cache:
        elements = elements.shuffle(
            max(len(paths), 1), seed=spec.seed, reshuffle_each_iteration=True
        )

    kinds = np.unique(plan)
    single_kind = int(kinds[0]) if len(kinds) == 1 else None
    augment_each = augment_image if spec.training else None
    # Heavy per-image augmentation thrashes when more maps run than there are cores (measured:
    # 317 images/s with 2 calls on 2 cores, 195 with AUTOTUNE, 3 or 4); decoding alone prefers
    # AUTOTUNE.
    augment_calls = spec.parallel_calls or available_cores()

    def load(path: tf.Tensor, kind: tf.Tensor, target: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        chosen = single_kind if single_kind is not None else kind
        return resize_uint8(decode_image(path, chosen), spec.input_size), target

    options = tf.data.Options()
    # Under MultiWorkerMirroredStrategy each worker reads its share of the elements.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    if spec.deterministic is not None:
        options.deterministic = spec.deterministic
    # One seed pair per image, new ones every epoch (still the same for the same spec.seed).
    pairs = tf.data.Dataset.random(seed=spec.seed + 1, rerandomize_each_iteration=True).batch(2)
    if augment_each is not None and not spec.cache:
        # Decode and augment in one map: the augmenter resizes as part of its own resampling
        # (one warp instead of a resize and a warp), so augmented images are resampled once.
        if spec.repeat:
            elements = elements.repeat()

        def load_augmented(
            element: tuple[tf.Tensor, tf.Tensor, tf.Tensor], pair: tf.Tensor
        ) -> tuple[tf.Tensor, tf.Tensor]:
            path, kind, target = element
            chosen = single_kind if single_kind is not None else kind
            return augment_each(decode_image(path, chosen), pair), target

        images = (
            tf.data.Dataset.zip((elements, pairs))
            .map(load_augmented, num_parallel_calls=augment_calls)
            .with_options(options)
        )
    else:
        images = elements.map(load, num_parallel_calls=parallel).with_options(options)
        if spec.cache:
            images = images.cache()
        if shuffle_after_cache:
            images = images.shuffle(
                max(len(paths), 1), seed=spec.seed, reshuffle_each_iteration=True
            )
        if spec.repeat:
            images = images.repeat()
        if augment_each is not None:
            images = tf.data.Dataset.zip((images, pairs)).map(
                lambda element, pair: (augment_each(element[0], pair), element[1]),
                num_parallel_calls=augment_calls,
            )
    images = images.batch(spec.batch_size, drop_remainder=spec.drop_remainder)
    images = images.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=parallel)
    if augment is not None and spec.training:
        seeds = tf.data.Dataset.random(seed=spec.seed, rerandomize_each_iteration=True).batch(2)
        images = tf.data.Dataset.zip((images, seeds)).map(
            lambda batch, seed: (augment(batch[0], seed), batch[1]),
            num_parallel_calls=parallel,
        )
    if preprocess is not None:
        images = images.map(lambda x, y: (preprocess(x), y), num_parallel_calls=parallel)
    return images.prefetch(tf.data.AUTOTUNE)


def available_cores() -> int:
    """CPU cores this process may run on (affinity and cgroup-style limits included)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def steps_for(count: int, batch_size: int) -> int:
    return max(1, math.ceil(count / batch_size))
