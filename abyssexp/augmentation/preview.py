"""A PNG grid of training images and augmented versions of each, labelled with class names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abyssexp.atomic import atomic_path
from abyssexp.config import check_outputs
from abyssexp.owned import make_dirs

if TYPE_CHECKING:
    from collections.abc import Iterable

    from abyssexp.datasets.coco import ImageClassificationDataset
    from abyssexp.schemas.params import AugmentationParams


def augmented_versions(
    image: np.ndarray,
    params: AugmentationParams,
    versions: int,
    seed: int,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """``versions`` augmented copies of one uint8 image with the configured backend, resized to
    ``size`` (default: its own) the way training does it."""
    import tensorflow as tf

    if not (params.flip_lr or params.flip_ud or params.group_ops()):
        from abyssexp.datasets.resize import resize_uint8

        if size is not None:
            image = resize_uint8(tf.constant(image), size).numpy()
        return np.stack([image] * versions)
    if size is not None and (params.backend == "imgaug" or params.placement == "model"):
        from abyssexp.datasets.resize import resize_uint8

        image = resize_uint8(tf.constant(image), size).numpy()
    if params.backend == "imgaug":
        from abyssexp.augmentation.imgaug_backend import build_imgaug_sequence

        sequence = build_imgaug_sequence(params, seed=seed)
        return np.stack(sequence.augment_images([image] * versions))
    if params.placement == "model":
        from abyssexp.augmentation.tf_backend import augment_batch

        batch = tf.repeat(tf.cast(image, tf.float32)[None], versions, axis=0)
        out = augment_batch(batch, tf.constant([seed, 1], tf.int64), params)
    else:
        # placement: pipeline augments the decoded file and resizes in the same resampling.
        from abyssexp.augmentation.tf_backend import image_augmenter_fn

        output_size = size or (image.shape[0], image.shape[1])
        augment = image_augmenter_fn(params, output_size, seed)
        pixels = tf.constant(image)
        out = tf.stack([augment(pixels, tf.constant([seed, v], tf.int64)) for v in range(versions)])
    return np.round(out.numpy()).astype(np.uint8)


def _targets(labels: Iterable[int], classes: int) -> np.ndarray:
    """A target row that sums to 1 over the image's labels (as softmax training has them)."""
    targets = np.zeros(classes, np.float32)
    for c in labels:
        targets[c] = 1.0
    return targets / max(targets.sum(), 1.0)


def _is_mixed(targets: np.ndarray) -> bool:
    return bool(((targets > 0.005) & (targets < 0.995)).any())


def _label_text(targets: np.ndarray, names: list[str]) -> str:
    """``circle`` for one label; ``circle 0.71 + square 0.29`` for a mixed target."""
    order = [c for c in np.argsort(-targets) if targets[c] > 0.005]
    if not order:
        text = "(no label)"
    elif _is_mixed(targets):
        text = " + ".join(f"{names[c]} {targets[c]:.2f}".replace(" 0.", " .") for c in order[:3])
    else:
        text = ", ".join(names[c] for c in order)
    return text if len(text) <= 30 else text[:28] + "…"


def recipe_versions(
    versions: np.ndarray,
    targets: np.ndarray,
    partner: tuple[Any, ...],
    params: AugmentationParams,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """RandAugment, MixUp and CutMix on one row's versions as training applies them, each
    version mixed with a version of the ``partner`` row (image, versions, targets)."""
    import tensorflow as tf

    from abyssexp.augmentation.recipes import (
        apply_randaugment,
        make_mixers,
        make_randaugment,
        mix_batch,
    )

    count, height, width = versions.shape[:3]
    others = tf.image.resize(tf.cast(partner[1], tf.float32), (height, width)).numpy()
    batch = tf.constant(np.concatenate([versions.astype(np.float32), others]))
    labels = tf.constant(np.stack([targets] * count + [partner[2]] * count))
    pair = tf.constant([seed, 11], tf.int64)
    if params.randaugment is not None:
        layer = make_randaugment(params.randaugment, seed)
        batch = apply_randaugment(layer, batch, pair, params.randaugment.rate)
    mixers = make_mixers(params, seed)
    if mixers:
        partners = tf.constant(np.r_[np.arange(count, 2 * count), np.arange(count)])
        batch, labels = mix_batch(mixers, batch, labels, pair + 1, partners)
    images = np.round(np.clip(batch.numpy()[:count], 0, 255)).astype(np.uint8)
    return images, labels.numpy()[:count]


def render_preview(
    dataset: ImageClassificationDataset,
    params: AugmentationParams,
    out: Path,
    images: int = 4,
    versions: int = 5,
    seed: int = 0,
    size: tuple[int, int] | None = None,
) -> Path:
    """Write the grid: one row per image, the original first, then ``versions`` augmentations."""
    check_outputs([out])  # before the minutes of rendering, never through a symlinked folder
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import tensorflow as tf

    from abyssexp.datasets.resize import resize_uint8

    rng = np.random.default_rng(seed)
    count = min(images, len(dataset))
    picks = rng.choice(len(dataset), size=count, replace=False)
    figure, axes = plt.subplots(
        count, versions + 1, figsize=(1.9 * (versions + 1), 2.1 * count), dpi=100, squeeze=False
    )
    names = dataset.class_names
    rows = []
    for row, index in enumerate(picks):
        original, labels = dataset.load(int(index))
        image = original
        if size is not None:
            image = resize_uint8(tf.constant(original), size).numpy()
        augmented = augmented_versions(original, params, versions, seed + row, size)
        rows.append((image, augmented, _targets(labels, len(names))))
    for row, (image, augmented, targets) in enumerate(rows):
        label = _label_text(targets, names)
        titles = [f"{label}\noriginal"]
        titles += [f"{label}\naugmented {column}" for column in range(1, versions + 1)]
        if params.recipes():
            partner = rows[(row + 1) % len(rows)]
            augmented, mixed = recipe_versions(augmented, targets, partner, params, seed + row)
            titles[1:] = [
                f"{_label_text(t, names)}\n{'mixed' if _is_mixed(t) else 'augmented'} {c}"
                for c, t in enumerate(mixed, start=1)
            ]
        for column, picture in enumerate([image, *augmented]):
            axis = axes[row][column]
            axis.imshow(picture)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(titles[column], fontsize=8)
    figure.suptitle(f"augmentation preview ({params.backend} backend)", fontsize=10)
    figure.tight_layout()
    make_dirs(out.parent)
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)
    return out
