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

import io
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from abyssexp.datasets.coco import ImageClassificationDataset
from abyssexp.datasets.disk_cache import prepare_entries, read_entry
from abyssexp.datasets.images import ImageProbe, probe_image, read_image
from abyssexp.datasets.resize import resize_bilinear, resize_uint8
from abyssexp.errors import DatasetError, first_few

__all__ = [
    "PipelineSpec",
    "decode_contents",
    "decode_kind",
    "decode_plan",
    "make_tf_dataset",
    "prepare_image",
    "resize_bilinear",
    "resize_uint8",
    "steps_for",
]

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
    #: Elements of the repeated training stream to skip: where a resumed run's epoch starts, so
    #: that its order and augmentation equal those of the same epoch in an uninterrupted run.
    skip: int = 0
    #: The image cache folder on disk (``image_cache.cache_dir(scratch)``), shared by every
    #: experiment; None: decode every file every epoch.
    disk_cache: Path | None = None
    #: Size limit of the disk cache in bytes (least-recently-used entries go first).
    disk_cache_limit: int | None = None


def probe_all(paths: Sequence[Path], workers: int = 8) -> list[ImageProbe]:
    """Read every image header in parallel (fast: no pixels are decoded).

    Raises:
        DatasetError: some files are missing, unreadable or larger than the pixel limit: the
            first one's reason, the first few names and how many, before TensorFlow decodes any
            (its decoder would stop the run mid-epoch, or allocate what a 65000×65000 header asks).
    """

    def probe(path: Path) -> ImageProbe | DatasetError:
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
            f" ({len(failed)} image files fail: {first_few([Path(p).name for p, _ in failed], width=None)}; "
            "`abyssexp data check` lists them)"
            if len(failed) > 1
            else ""
        )
        raise DatasetError(first + more)
    return [probe for probe in probes if isinstance(probe, ImageProbe)]  # every one, now


def decode_plan(
    paths: Sequence[Path], input_size: tuple[int, int], dct_scaling: bool = True
) -> np.ndarray:
    """Per image: 0-3 JPEG with DCT ratio 1/2/4/8, 4 PNG, 5 Pillow."""
    plan = np.empty(len(paths), dtype=np.int32)
    for i, probe in enumerate(probe_all(paths)):
        plan[i] = decode_kind(probe, input_size, dct_scaling)
    return plan


def decode_kind(probe: ImageProbe, input_size: tuple[int, int], dct_scaling: bool = True) -> int:
    """How one image decodes (its ``decode_plan`` entry), from its header: a JPEG at least
    ``ratio`` times the input size per side is decoded at 1/``ratio`` by libjpeg."""
    height, width = input_size
    if probe.kind == "png":
        return _KIND_PNG
    if probe.kind != "jpeg":
        return _KIND_PIL
    index = 0
    if dct_scaling:
        for j, ratio in enumerate(_JPEG_RATIOS):
            if probe.width / ratio >= width and probe.height / ratio >= height:
                index = j
    return index


def _text(value: np.ndarray | bytes | str) -> str:
    if isinstance(value, np.ndarray):
        value = value.item()
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_with_pillow(path: np.ndarray | bytes | str) -> np.ndarray:
    return read_image(_text(path))


def _read_contents_with_pillow(
    contents: np.ndarray | bytes, name: np.ndarray | bytes
) -> np.ndarray:
    data = contents.item() if isinstance(contents, np.ndarray) else contents
    return read_image(io.BytesIO(data), _text(name))


def decode_image(path: tf.Tensor, kind: tf.Tensor | int) -> tf.Tensor:
    """Decode one image file to uint8 H×W×3 following its ``decode_plan`` entry (the decoders
    of ``decode_contents``; Pillow reads the file itself)."""

    def pillow() -> tf.Tensor:
        return tf.numpy_function(_read_with_pillow, [path], tf.uint8, stateful=False)

    return _decode_with(lambda: tf.io.read_file(path), kind, pillow)


def decode_contents(
    contents: tf.Tensor, kind: tf.Tensor | int, name: tf.Tensor | str = "image"
) -> tf.Tensor:
    """Decode an encoded image (its bytes) to uint8 H×W×3 following its ``decode_kind``.

    A Python ``int`` kind (every image of the dataset decodes the same way, the common case)
    builds that decoder alone; a tensor kind chooses per image with ``tf.switch_case``.
    ``name`` says what the bytes were in Pillow's messages.
    """

    def pillow() -> tf.Tensor:
        return tf.numpy_function(
            _read_contents_with_pillow, [contents, name], tf.uint8, stateful=False
        )

    return _decode_with(lambda: contents, kind, pillow)


def _decode_with(
    contents: Callable[[], tf.Tensor], kind: tf.Tensor | int, pillow: Callable[[], tf.Tensor]
) -> tf.Tensor:
    """The decoders, written once: ``contents`` gives the encoded bytes (read only in the
    branch that runs), ``pillow`` decodes what TensorFlow's decoders would read differently."""

    def jpeg(ratio: int) -> Callable[[], tf.Tensor]:
        return lambda: tf.io.decode_jpeg(
            contents(), channels=3, ratio=ratio, dct_method="INTEGER_ACCURATE"
        )

    def png() -> tf.Tensor:
        return tf.io.decode_png(contents(), channels=3, dtype=tf.uint8)

    def with_pillow() -> tf.Tensor:
        return tf.ensure_shape(pillow(), [None, None, 3])

    branches = [jpeg(r) for r in _JPEG_RATIOS] + [png, with_pillow]
    image = branches[kind]() if isinstance(kind, int) else tf.switch_case(kind, branches)
    image.set_shape([None, None, 3])
    return image


def prepare_image(
    contents: tf.Tensor,
    kind: tf.Tensor | int,
    input_size: tuple[int, int],
    name: tf.Tensor | str = "image",
) -> tf.Tensor:
    """An encoded image → the model's input (uint8, ``input_size``): decoded as its
    ``decode_kind`` says, resized bilinear. The one preprocessing of ``predict`` and ``serve``;
    ``test`` and training decode and resize with the same two functions (``decode_image``,
    ``resize_uint8``) around their disk cache."""
    return resize_uint8(decode_contents(contents, kind, name), input_size)


def make_tf_dataset(
    dataset: ImageClassificationDataset,
    spec: PipelineSpec,
    augment: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None = None,
    preprocess: Callable[[tf.Tensor], tf.Tensor] | None = None,
    augment_image: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None = None,
    plan: np.ndarray | None = None,
    recipes: Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]] | None = None,
) -> tf.data.Dataset:
    """Build the input pipeline.

    Args:
        dataset: images and labels.
        spec: sizes, batching, caching and shuffling.
        augment: batched ``fn(images float32 0-255, seed int64[2]) -> images``, training only.
        augment_image: per-image ``fn(image uint8 of any size, seed int64[2]) -> float32 image of
            spec.input_size``, training only, the fast choice on CPUs: without ``spec.cache`` it
            runs in the decoding map on the decoded file (or on the disk cache's entry, stored at
            twice the input size for headroom) and does the resizing itself; with it, on the
            cached, resized images.
        preprocess: batched backbone normalisation (omit when the model does it itself).
        plan: ``decode_plan`` of the dataset for this spec, when already known (it reads every
            image header).
        recipes: batched ``fn(images, targets, seed int64[2]) -> (images, targets)`` after the
            augmenters (RandAugment, MixUp, CutMix: ``augmentation.recipes``), training only.

    Returns:
        A dataset of ``(images B×H×W×3, float32 targets B×K)``: uint8 images, so the copy to an
        accelerator is 4× smaller (the model casts them to float, see ``models.classifier``),
        except where augmentation or ``preprocess`` ran: float32 then.
    """
    parallel = spec.parallel_calls or tf.data.AUTOTUNE
    paths = [str(p) for p in dataset.image_paths]
    if plan is None:
        plan = decode_plan(dataset.image_paths, spec.input_size, spec.dct_scaling)
    targets = dataset.multihot(normalise=spec.normalise_targets)
    augment_each = augment_image if spec.training else None
    stored = spec.input_size
    columns: tuple[Any, ...] = (paths, plan, targets)
    if spec.disk_cache is not None:
        stored, plan = _disk_cache_plan(dataset.image_paths, plan, spec, augment_each is not None)
        cached = prepare_entries(
            paths, plan, stored, spec.disk_cache, spec.disk_cache_limit, _decode
        )
        columns = (paths, plan, targets, cached.entries, cached.keys)
    elements = tf.data.Dataset.from_tensor_slices(columns)
    # Shuffle file names before decoding (cheap), except when caching decoded images: then the
    # cache comes first and the shuffle after it, so every epoch still sees a new order.
    shuffle_after_cache = spec.training and spec.cache
    if spec.training and not shuffle_after_cache:
        elements = elements.shuffle(
            max(len(paths), 1), seed=spec.seed, reshuffle_each_iteration=True
        )

    images = _decoded_images(
        elements, plan, spec, augment_each, shuffle_after_cache, len(paths), stored
    )
    images = images.batch(spec.batch_size, drop_remainder=spec.drop_remainder)
    if augment is not None and spec.training:
        seeds = tf.data.Dataset.random(seed=spec.seed, rerandomize_each_iteration=True).batch(2)
        seeds = seeds.skip(spec.skip // spec.batch_size)
        images = tf.data.Dataset.zip((images, seeds)).map(
            lambda batch, seed: (augment(tf.cast(batch[0], tf.float32), seed), batch[1]),
            num_parallel_calls=parallel,
        )
    if recipes is not None and spec.training:
        images = _with_recipes(images, recipes, spec)
    if preprocess is not None:
        images = images.map(
            lambda x, y: (preprocess(tf.cast(x, tf.float32)), y), num_parallel_calls=parallel
        )
    return images.prefetch(tf.data.AUTOTUNE)


def _with_recipes(
    images: tf.data.Dataset,
    recipes: Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]],
    spec: PipelineSpec,
) -> tf.data.Dataset:
    """Batches through ``recipes``, one at a time (Keras' layers share their seed generators),
    each with its own seed pair from a stream that skips with the resumed epoch."""
    seeds = tf.data.Dataset.random(seed=spec.seed + 2, rerandomize_each_iteration=True).batch(2)
    seeds = seeds.skip(spec.skip // spec.batch_size)
    return tf.data.Dataset.zip((images, seeds)).map(
        lambda batch, seed: recipes(batch[0], batch[1], seed)
    )


def _decode(path: tf.Tensor, kind: tf.Tensor | int) -> tf.Tensor:
    return decode_image(path, kind)  # looked up at call time (tests count decodes)


def _disk_cache_plan(
    image_paths: Sequence[Path], plan: np.ndarray, spec: PipelineSpec, augmented: bool
) -> tuple[tuple[int, int], np.ndarray]:
    """The size the disk cache stores and the decode plan for it: twice the input size when a
    per-image augmenter resamples the entry (zoom and rotation keep detail), else the input."""
    if not augmented:
        return spec.input_size, plan
    stored = (2 * spec.input_size[0], 2 * spec.input_size[1])
    return stored, decode_plan(image_paths, stored, spec.dct_scaling)


def _decoded_images(
    elements: tf.data.Dataset,
    plan: np.ndarray,
    spec: PipelineSpec,
    augment_each: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None,
    shuffle_after_cache: bool,
    count: int,
    stored: tuple[int, int],
) -> tf.data.Dataset:
    """(path, decode kind, target[, cache entry, key]) elements → (image, target): decoded (or
    read from the disk cache, where entries are ``stored`` in size), resized (or augmented, which
    resizes in the same resampling), cached, shuffled and repeated as ``spec`` asks."""
    parallel = spec.parallel_calls or tf.data.AUTOTUNE
    kinds = np.unique(plan)
    single_kind = int(kinds[0]) if len(kinds) == 1 else None
    # Heavy per-image augmentation thrashes when more maps run than there are cores (measured:
    # 317 images/s with 2 calls on 2 cores, 195 with AUTOTUNE, 3 or 4); decoding alone prefers
    # AUTOTUNE.
    augment_calls = spec.parallel_calls or available_cores()

    def source(path: tf.Tensor, kind: tf.Tensor, *entry: tf.Tensor) -> tf.Tensor:
        """The decoded file (uint8, any size), or its disk cache entry (``stored`` in size)."""
        chosen = single_kind if single_kind is not None else kind
        if entry:
            return read_entry(entry[0], entry[1], path, chosen, stored, _decode)
        return decode_image(path, chosen)

    # Plain graph code (its choices are Python values, its branches tf.cond): AutoGraph's
    # conversion would give the same graph and costs ~0.2 s of CPU per run (issue 24).
    @tf.autograph.experimental.do_not_convert
    def load(
        path: tf.Tensor, kind: tf.Tensor, target: tf.Tensor, *entry: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        image = source(path, kind, *entry)
        if entry and stored == spec.input_size:
            return image, target  # already the input size
        return resize_uint8(image, spec.input_size), target

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
        zipped = tf.data.Dataset.zip((elements, pairs)).skip(spec.skip)

        def load_augmented(
            element: tuple[tf.Tensor, ...], pair: tf.Tensor
        ) -> tuple[tf.Tensor, tf.Tensor]:
            path, kind, target, *entry = element
            return augment_each(source(path, kind, *entry), pair), target

        images = zipped.map(load_augmented, num_parallel_calls=augment_calls).with_options(options)
    elif not spec.cache:
        # Repeat and skip before decoding: skipping to a resumed epoch decodes nothing.
        if spec.repeat:
            elements = elements.repeat()
        elements = elements.skip(spec.skip)
        images = elements.map(load, num_parallel_calls=parallel).with_options(options)
    else:
        images = elements.map(load, num_parallel_calls=parallel).with_options(options).cache()
        if shuffle_after_cache:
            images = images.shuffle(max(count, 1), seed=spec.seed, reshuffle_each_iteration=True)
        if spec.repeat:
            images = images.repeat()
        images = images.skip(spec.skip)
        if augment_each is not None:
            images = tf.data.Dataset.zip((images, pairs.skip(spec.skip))).map(
                lambda element, pair: (augment_each(element[0], pair), element[1]),
                num_parallel_calls=augment_calls,
            )
    return images


def make_image_batches(
    image_paths: Sequence[Path], input_size: tuple[int, int], batch_size: int
) -> tf.data.Dataset:
    """Unlabelled images as uint8 batches (N×H×W×3), decoded and resized exactly as evaluation
    does, in parallel; for ``abyssexp predict`` (the model casts them to float)."""
    paths = [str(p) for p in image_paths]
    plan = decode_plan(list(image_paths), input_size)

    @tf.autograph.experimental.do_not_convert  # plain graph code, as in _decoded_images
    def load(path: tf.Tensor, kind: tf.Tensor) -> tf.Tensor:
        return prepare_image(tf.io.read_file(path), kind, input_size, path)

    elements = tf.data.Dataset.from_tensor_slices((paths, plan))
    images = elements.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return images.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def available_cores() -> int:
    """CPU cores this process may run on (affinity and cgroup-style limits included)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def steps_for(count: int, batch_size: int) -> int:
    return max(1, math.ceil(count / batch_size))
