"""The one compile recipe: what ``model.compile`` is given, for the seed's ``ImageClassifier``
and for a training run alike.

A recipe is plain data (no Keras until ``compile_model``); ``CompileRecipe.from_params`` is a
run's (label smoothing, EMA and gradient accumulation on top of the optimizer), the facade
makes one from its constructor arguments. Each ``compile_model`` makes one optimizer: a run
compiles once per phase (once, or twice with two-phase fine-tuning).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    import keras

    from abyssexp.models.schedules import LearningRate
    from abyssexp.schemas.params import Params


class CompileArguments(TypedDict):
    """``model.compile``'s keyword arguments, made from a ``CompileRecipe``."""

    optimizer: Any
    loss: Any
    metrics: list[Any]
    jit_compile: bool


@dataclass(frozen=True)
class CompileRecipe:
    """The optimizer, loss and metrics of one compile.

    Attributes:
        optimizer: a Keras optimizer name (``make_optimizer``).
        learning_rate: a float or a Keras ``LearningRateSchedule``.
        output_activation: ``softmax`` or ``sigmoid`` (chooses the loss and accuracy kinds).
        loss: ``training.loss`` (``auto``, a cross-entropy, ``focal``) or a Keras loss object.
        metrics: metric names (``accuracy`` follows the activation) or Keras metrics.
        optimizer_args: extra optimizer arguments (never the learning rate).
        class_weights: per-class loss weights, or None.
        label_smoothing: of the cross-entropy targets.
        jit_compile: XLA-compile the train step.
    """

    optimizer: str
    learning_rate: LearningRate
    output_activation: str
    loss: str | keras.losses.Loss = "auto"
    metrics: Sequence[Any] = ("accuracy",)
    optimizer_args: dict[str, Any] = field(default_factory=dict)
    class_weights: Sequence[float] | None = None
    label_smoothing: float = 0.0
    jit_compile: bool = False

    @classmethod
    def from_params(
        cls,
        params: Params,
        learning_rate: LearningRate,
        class_weights: Sequence[float] | None = None,
    ) -> CompileRecipe:
        """A run's recipe: ``params.training``'s optimizer (with EMA and gradient accumulation
        when asked), loss (with label smoothing) and metrics."""
        training = params.training
        extras: dict[str, Any] = {}
        if training.ema:
            extras.update(use_ema=True, ema_momentum=training.ema_momentum)
        if training.gradient_accumulation_steps:
            extras["gradient_accumulation_steps"] = training.gradient_accumulation_steps
        return cls(
            optimizer=training.optimizer,
            learning_rate=learning_rate,
            output_activation=params.model.output_activation,
            loss=training.loss,
            metrics=tuple(training.metrics),
            optimizer_args={**dict(training.optimizer_args), **extras},
            class_weights=list(class_weights) if class_weights is not None else None,
            label_smoothing=training.label_smoothing,
            jit_compile=params.model.jit_compile,
        )

    def arguments(self) -> CompileArguments:
        """``model.compile`` keyword arguments (makes the optimizer and the loss)."""
        from abyssexp.models.losses import make_loss
        from abyssexp.models.optimizers import make_optimizer

        loss = self.loss
        if isinstance(loss, str):
            weights = list(self.class_weights) if self.class_weights is not None else None
            loss = make_loss(loss, self.output_activation, weights, self.label_smoothing)
        return {
            "optimizer": make_optimizer(self.optimizer, self.learning_rate, self.optimizer_args),
            "loss": loss,
            "metrics": make_metrics(self.metrics, self.output_activation),
            "jit_compile": self.jit_compile,
        }


def make_metrics(metrics: Sequence[Any], output_activation: str) -> list[Any]:
    """``accuracy`` means categorical accuracy for softmax, binary (per label) for sigmoid."""
    import keras

    resolved = []
    for metric in metrics:
        if metric in ("accuracy", "acc"):
            cls = (
                keras.metrics.CategoricalAccuracy
                if output_activation == "softmax"
                else keras.metrics.BinaryAccuracy
            )
            resolved.append(cls(name="accuracy"))
        else:
            resolved.append(metric)
    return resolved


def compile_model(model: keras.Model, recipe: CompileRecipe) -> None:
    """Compile ``model`` with ``recipe`` (a new optimizer each time)."""
    model.compile(**recipe.arguments())


def build_optimizer(model: keras.Model) -> None:
    """Create the optimizer's variables before ``fit`` traces its train step.

    Without a distribution strategy, Keras (TensorFlow backend) leaves them to the step's first
    trace; TensorFlow then traces the step a second time, now without creating variables: the
    whole forward and backward graph twice (a tiny ``tinycnn`` run: 4.3 s of CPU after its
    imports, 3.3 s with this). These are the variables that trace would make
    (``trainable_variables``, as Keras's own symbolic build does), made under the model's
    strategy; a resumed model's optimizer is built already.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        with model.distribute_strategy.scope():
            optimizer.build(model.trainable_variables)
