"""abyssexp: train Keras image classifiers from COCO datasets and keep every experiment in order.

``from abyssexp import ImageClassifier`` works, but TensorFlow is imported only when a name that needs
it is first used, so the command line's fast commands stay fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["ImageClassifier", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "ImageClassifier":
        from abyssexp.models.classifier import ImageClassifier

        return ImageClassifier
    raise AttributeError(f"module 'abyssexp' has no attribute {name!r}")
