"""The original team's mapping of the configuration onto imgaug (optional extra).

imgaug 0.4.0 breaks on current NumPy (``np.bool``, ``np.sctypes``). ``pip install 'abyssexp[imgaug]'``
installs the maintained fork imgaug-denk (the same ``imgaug`` module) and pins ``numpy<2``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from abyssexp.errors import OptionalDependencyError

if TYPE_CHECKING:
    from abyssexp.schemas.params import AugmentationParams

INSTALL_HINT = (
    "augmentation.backend=imgaug needs the imgaug extra: pip install 'abyssexp[imgaug]' "
    "(it pins numpy<2, which imgaug 0.4 requires); or use backend=tf"
)


def _imgaug() -> Any:
    try:
        import imgaug.augmenters as iaa
    except (ImportError, AttributeError) as exc:  # AttributeError: np.sctypes on NumPy 2
        raise OptionalDependencyError(f"{INSTALL_HINT} ({type(exc).__name__}: {exc})") from None
    return iaa


def build_imgaug_sequence(params: AugmentationParams, seed: int | None = None) -> Any:
    """``iaa.Sequential`` equivalent to ``params`` (flips outside, the rest in ``SomeOf``)."""
    iaa = _imgaug()
    group = []
    if params.gblur is not None:
        group.append(iaa.GaussianBlur(sigma=tuple(params.gblur)))
    elif params.avgblur is not None:
        group.append(iaa.AverageBlur(k=tuple(params.avgblur)))
    if params.gnoise is not None:
        group.append(iaa.AdditiveGaussianNoise(scale=tuple(params.gnoise)))
    if params.scale is not None:
        group.append(iaa.Affine(scale=tuple(params.scale), cval=params.cval))
    if params.rotate is not None:
        group.append(iaa.Affine(rotate=tuple(params.rotate), cval=params.cval))
    if params.bright is not None:
        group.append(iaa.Multiply(tuple(params.bright)))
    if params.colour_shift is not None:
        group.append(iaa.Multiply(tuple(params.colour_shift), per_channel=True))
    steps = []
    if params.flip_lr:
        steps.append(iaa.Fliplr(0.5))
    if params.flip_ud:
        steps.append(iaa.Flipud(0.5))
    if group:
        most = len(group) if params.some_of is None else min(params.some_of, len(group))
        steps.append(iaa.SomeOf((0, most), group))
    return iaa.Sequential(steps, seed=seed)


def batch_augmenter(params: AugmentationParams, seed: int = 0) -> Callable[[Any, Any], Any]:
    """``fn(images float32 0-255, seed)`` for tf.data, running imgaug through ``numpy_function``."""
    import tensorflow as tf

    sequence = build_imgaug_sequence(params, seed=seed)

    def run(batch: np.ndarray, pair: np.ndarray) -> np.ndarray:
        local = sequence.deepcopy()  # one copy per batch: parallel calls never share RNG state
        local.seed_(int(pair[0]) % (2**31))
        images = np.clip(np.round(batch), 0, 255).astype(np.uint8)
        return np.asarray(local.augment_images(images), dtype=np.float32)

    def augment(images: Any, pair: Any) -> Any:
        out = tf.numpy_function(run, [images, pair], tf.float32, stateful=False)
        out.set_shape(images.shape)
        return out

    return augment
