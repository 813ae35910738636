"""``create_classifier(params, ...)``: a compiled Keras classifier from an experiment's params.

The factory (timm's ``create_model``) is what training uses; ``ImageClassifier`` keeps the original
team's constructor and does the building and compiling (keras-hub's task owns compile).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from abyssexp.models.backbones import input_shape_for


def create_classifier(
    params: Any,
    class_names: Sequence[str],
    *,
    num_classes: int | None = None,
    learning_rate: Any,
    class_weights: Sequence[float] | None = None,
    augmentation: dict[str, Any] | None = None,
    strategy: Any = None,
) -> Any:
    """Build and compile the ``keras.Model`` that ``params`` describe.

    Args:
        params: the experiment's ``Params``.
        class_names: one name per output, in logit order.
        num_classes: the number of outputs when it differs from ``len(class_names)``.
        learning_rate: a float or a Keras ``LearningRateSchedule`` (``make_schedule``).
        class_weights: per-class loss weights, or None.
        augmentation: the augmentation params as a dict when augmentation runs inside the model
            (``placement: model``), else None.
        strategy: the ``tf.distribute`` strategy whose scope builds the model.

    Returns:
        The compiled model, its preprocessing included (it takes 0-255 pixels).
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
        init_lr=learning_rate,
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
    )
    model = classifier.model
    # The run's recipes (label smoothing, EMA, gradient accumulation) on top of the facade's
    # compile; the same arguments serve the recompile after unfreezing (models.finetune).
    from abyssexp.models.finetune import compile_arguments

    model.compile(**compile_arguments(params, learning_rate, class_weights))
    return model


def load_classifier(path: Path, compile: bool = True) -> Any:
    """A saved classifier, loaded in Keras safe mode (with its optimizer state when compiled)."""
    from abyssexp.models.classifier import load_keras_model

    return load_keras_model(path, compile=compile)
