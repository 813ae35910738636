"""The original team's generator pipeline, with its names and behaviour.

Each stage wraps a generator of ``(image, target)`` pairs. These are slow by nature (one Python
call per image); training uses the tf.data path in ``abyssexp.datasets.pipeline``. The seed's
``pipeline(...)`` function runs unchanged on top of these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np


def lambda_gen(gen: Iterable[tuple[Any, Any]], func: Callable[..., tuple[Any, Any]]) -> Iterator:
    """Apply ``func(image, target) -> (image, target)`` to every pair."""
    for image, target in gen:
        yield func(image, target)


#: The seed's guide spells it ``lamda_gen`` once; both names work.
lamda_gen = lambda_gen


def multihot_gen(gen: Iterable[tuple[Any, Any]], num_classes: int) -> Iterator:
    """Turn a list of logit ids into a multihot float32 vector of length ``num_classes``."""
    for image, labels in gen:
        target = np.zeros(num_classes, dtype=np.float32)
        for logit in labels:
            target[int(logit)] = 1.0
        yield image, target


def batching_gen(
    gen: Iterable[tuple[Any, Any]], batch_size: int, drop_last: bool = False
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Accumulate ``batch_size`` pairs into stacked arrays; the last partial batch is kept unless
    ``drop_last``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
    images: list[Any] = []
    targets: list[Any] = []
    for image, target in gen:
        images.append(image)
        targets.append(target)
        if len(images) == batch_size:
            yield np.stack(images), np.stack(targets)
            images, targets = [], []
    if images and not drop_last:
        yield np.stack(images), np.stack(targets)


def enforce_one_vs_all(image: Any, target: np.ndarray, background_logit: int = 0) -> tuple:
    """Clear the background logit when any other label is present.

    The original hard-coded logit 0; pass ``background_logit`` (e.g. with ``functools.partial``)
    when the background class is elsewhere.
    """
    target = np.array(target, dtype=np.float32, copy=True)
    others = np.delete(target, background_logit)
    if others.sum() > 0:
        target[background_logit] = 0.0
    return image, target


def augmented_gen(gen: Iterable[tuple[Any, Any]], augment: Callable[[Any], Any]) -> Iterator:
    """Apply a per-image augmenter ``augment(uint8 H×W×3) -> uint8 H×W×3`` to every image; the
    target passes through.

    The data floor never builds an augmenter itself: the seed's ``augmentation_gen`` (in
    ``abyssexp.augmentation``, also importable from ``abyssexp.datasets``) makes one from the
    configuration and hands it here.
    """
    for image, target in gen:
        yield augment(image), target
