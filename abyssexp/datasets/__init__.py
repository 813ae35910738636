"""COCO image-level classification data: the original team's API, plus a fast tf.data path.

The seed's imports work with the package name swapped::

    from abyssexp.datasets.translators import CategoryTranslator
    from abyssexp.datasets.coco import ImageClassificationDataset
    from abyssexp.datasets.generators import lambda_gen, multihot_gen, batching_gen
"""

from abyssexp.datasets.generators import (
    augmentation_gen,
    batching_gen,
    enforce_one_vs_all,
    lambda_gen,
    lamda_gen,
    multihot_gen,
)

__all__ = [
    "augmentation_gen",
    "batching_gen",
    "enforce_one_vs_all",
    "lambda_gen",
    "lamda_gen",
    "multihot_gen",
]
