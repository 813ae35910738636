"""COCO image-level classification data: the original team's API, plus a fast tf.data path.

The seed's imports work with the package name swapped::

    from abyssexp.datasets.translators import CategoryTranslator
    from abyssexp.datasets.coco import ImageClassificationDataset
    from abyssexp.datasets.generators import lambda_gen, multihot_gen, batching_gen
    from abyssexp.datasets import augmentation_gen

``augmentation_gen`` lives in ``abyssexp.augmentation`` (it builds an augmenter from the seed's
dict); the name here is a lazy re-export, so the data floor never imports augmentation.
"""

from typing import Any

#: The seed's generator names, re-exported on first use: importing any ``abyssexp.datasets``
#: module (``list`` and ``--help`` import a few constants) must not cost numpy's import.
_GENERATORS = (
    "augmented_gen",
    "batching_gen",
    "enforce_one_vs_all",
    "lambda_gen",
    "lamda_gen",
    "multihot_gen",
)

__all__ = ["augmentation_gen", *_GENERATORS]


def __getattr__(name: str) -> Any:
    if name == "augmentation_gen":  # the seed's import path, resolved on first use
        from abyssexp.augmentation import augmentation_gen

        return augmentation_gen
    if name in _GENERATORS:
        from abyssexp.datasets import generators

        return getattr(generators, name)
    raise AttributeError(f"module 'abyssexp.datasets' has no attribute {name!r}")
