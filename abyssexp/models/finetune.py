"""Fine-tuning a pretrained backbone in two phases: freezing and unfreezing the backbone.

Phase 1 trains the head with the backbone frozen; phase 2 unfreezes the backbone (or its layers
from ``training.unfreeze_from`` on) at ``training.finetune_lr`` with a new optimizer, as the Keras
transfer-learning guide does. Batch-normalisation layers stay frozen in phase 2: in Keras a frozen
``BatchNormalization`` runs in inference mode, so the pretrained statistics are not overwritten
by small fine-tuning batches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abyssexp.errors import InvalidInputError

if TYPE_CHECKING:
    import keras


def freeze_backbone(model: keras.Model) -> None:
    """Phase 1: only the head trains."""
    from abyssexp.models.classifier import backbone_of

    backbone_of(model).trainable = False


def unfreeze_backbone(model: keras.Model, unfreeze_from: str | int | None) -> list[str]:
    """Phase 2: the backbone from ``unfreeze_from`` (a layer name or index) on trains, batch
    normalisation excepted. Returns the names of the layers that train."""
    import keras

    from abyssexp.models.classifier import backbone_of

    base = backbone_of(model)
    names = [layer.name for layer in base.layers]
    if unfreeze_from is None:
        start = 0
    elif isinstance(unfreeze_from, int):
        start = unfreeze_from if unfreeze_from >= 0 else len(names) + unfreeze_from
    elif unfreeze_from in names:
        start = names.index(unfreeze_from)
    else:
        raise InvalidInputError(
            f"training.unfreeze_from: {base.name} has no layer {unfreeze_from!r} "
            f"(its last layers: {', '.join(names[-5:])})"
        )
    base.trainable = True
    training = []
    for index, layer in enumerate(base.layers):
        frozen = index < start or isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = not frozen
        if not frozen and layer.weights:
            training.append(layer.name)
    return training
