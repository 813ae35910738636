"""A PNG grid of training images and augmented versions of each, labelled with class names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abyssexp.atomic import atomic_path

if TYPE_CHECKING:
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


def render_preview(
    dataset: Any,
    params: AugmentationParams,
    out: Path,
    images: int = 4,
    versions: int = 5,
    seed: int = 0,
    size: tuple[int, int] | None = None,
) -> Path:
    """Write the grid: one row per image, the original first, then ``versions`` augmentations."""
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
    for row, index in enumerate(picks):
        original, labels = dataset.load(int(index))
        image = original
        if size is not None:
            image = resize_uint8(tf.constant(original), size).numpy()
        augmented = augmented_versions(original, params, versions, seed + row, size)
        label = ", ".join(names[c] for c in labels) or "(no label)"
        if len(label) > 24:
            label = label[:22] + "…"
        for column, picture in enumerate([image, *augmented]):
            axis = axes[row][column]
            axis.imshow(picture)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(
                f"{label}\n{'original' if column == 0 else f'augmented {column}'}", fontsize=8
            )
    figure.suptitle(f"augmentation preview ({params.backend} backend)", fontsize=10)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)
    return out
