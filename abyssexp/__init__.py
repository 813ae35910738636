"""abyssexp: train Keras image classifiers from COCO datasets and keep every experiment in order.

``from abyssexp import ImageClassifier`` works, but TensorFlow is imported only when a name that needs
it is first used, so the command line's fast commands stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    import keras

__version__ = "0.1.0"
__all__ = ["ImageClassifier", "__version__", "load_model"]


def load_model(path: Path | str, compile: bool = True) -> keras.Model:
    """Load any model abyssexp saved, in Keras safe mode, with every custom object registered.

    Models abyssexp saves load with plain ``keras.models.load_model`` too; this is the way for
    the few that carry an abyssexp layer (``augmentation.placement: model``, checkpoints made
    before preprocessing used built-in layers) or a custom loss or schedule.
    """
    from abyssexp.models.classifier import load_keras_model

    return load_keras_model(path, compile=compile)


def __getattr__(name: str) -> Any:
    if name == "ImageClassifier":
        from abyssexp.models.classifier import ImageClassifier

        return ImageClassifier
    raise AttributeError(f"module 'abyssexp' has no attribute {name!r}")
