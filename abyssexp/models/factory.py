"""``create_classifier(params, ...)``: the Keras classifier an experiment's params describe.

The factory (timm's ``create_model``) is what training uses; ``ImageClassifier`` keeps the original
team's constructor and does the building. The model comes back uncompiled: the training run
compiles it once per phase with the run's recipe (``models.compiling``), so each phase's
learning rate reaches ``make_optimizer`` once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from abyssexp.models.backbones import input_shape_for

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from abyssexp.schemas.params import Params


def create_classifier(
    params: Params,
    class_names: Sequence[str],
    *,
    num_classes: int | None = None,
    class_weights: Sequence[float] | None = None,
    augmentation: dict[str, Any] | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> keras.Model:
    """Build (without compiling) the ``keras.Model`` that ``params`` describe.

    Args:
        params: the experiment's ``Params``.
        class_names: one name per output, in logit order.
        num_classes: the number of outputs when it differs from ``len(class_names)``.
        class_weights: per-class loss weights, or None (kept by the facade for its recipe).
        augmentation: the augmentation params as a dict when augmentation runs inside the model
            (``placement: model``), else None.
        strategy: the ``tf.distribute`` strategy whose scope builds the model.

    Returns:
        The built, uncompiled model, its preprocessing included (it takes 0-255 pixels).
    """
    from abyssexp.models.classifier import ImageClassifier

    model_params, training = params.model, params.training
    classifier = ImageClassifier(
        backbone=model_params.backbone,
        output_activation=model_params.output_activation,
        pooling=model_params.pooling,
        classes=num_classes or len(class_names),
        input_shape=input_shape_for(model_params.backbone, model_params.input_shape),
        init_weights=model_params.init_weights,
        init_epoch=training.init_epoch,
        init_lr=training.lr,
        trainable=model_params.trainable,
        optimizer=training.optimizer,
        optimizer_args=dict(training.optimizer_args),
        loss=training.loss,
        metrics=training.metrics,
        gpus=training.gpus,
        l12_reg=model_params.l12_reg,
        dropout=model_params.dropout,
        bn_momentum=model_params.bn_momentum,
        include_preprocessing=True,
        augmentation=augmentation,
        augmentation_seed=training.seed,
        class_weights=class_weights,
        class_names=list(class_names),
        jit_compile=model_params.jit_compile,
        strategy=strategy,
        compile=False,
    )
    return classifier.model
