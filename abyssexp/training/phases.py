"""The phases of a run: one ``fit`` over every epoch, or two with two-phase fine-tuning
(``training.freeze_backbone_epochs``): the head alone with the backbone frozen, then the
backbone unfrozen at ``training.finetune_lr`` with a new optimizer. One history, one set of
checkpoints; a resumed run starts in the phase its epoch belongs to (a model saved in phase 2
carries its unfrozen layers and its phase-2 optimizer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from abyssexp.training.plan import ResumeState, TrainingPlan

if TYPE_CHECKING:
    import keras

    from abyssexp.models.schedules import LearningRate
    from abyssexp.training.inputs import TrainingInputs


@dataclass(frozen=True)
class Phase:
    """Epochs ``[start, end)`` of one ``fit``, and what to do to the model before it."""

    start: int
    end: int
    prepare: Callable[[], None] | None = None


def learning_rate(plan: TrainingPlan, base_lr: float, epochs: int, steps: int) -> LearningRate:
    """The schedule of ``training.lr_schedule`` from ``base_lr`` over ``epochs``, with warm-up."""
    from abyssexp.models.schedules import make_schedule, with_warmup

    training = plan.params.training
    schedule = make_schedule(
        training.lr_schedule, base_lr, dict(training.lr_schedule_params), steps, epochs
    )
    return with_warmup(schedule, training.warmup_epochs, steps)


def compile_for_start(plan: TrainingPlan, model: keras.Model, inputs: TrainingInputs) -> None:
    """A new model's one compile before its first ``fit``: phase 1's (backbone frozen) with
    two-phase fine-tuning, else the whole run's schedule."""
    training = plan.params.training
    if training.freeze_backbone_epochs:
        _freeze(plan, model, inputs)
        return
    lr = learning_rate(plan, training.lr, training.epochs, inputs.steps_per_epoch)
    _compile(plan, model, lr, inputs)


def resumed_model(plan: TrainingPlan, resume: ResumeState) -> keras.Model:
    """The resumed epoch's checkpoint, compiled for the phase it was saved in, with the draws of
    its random layers continued from ``train_state.json`` (a saved model does not hold them)."""
    from abyssexp.models.classifier import load_keras_model
    from abyssexp.models.random_state import restore_layer_random_states

    model = load_keras_model(plan.paths.models / resume.checkpoint, compile=True)
    restore_layer_random_states(model, resume.layer_random_states, str(plan.paths.train_state))
    return model


def plan_phases(plan: TrainingPlan, model: keras.Model, inputs: TrainingInputs) -> list[Phase]:
    """The ``fit`` calls of this run (a new model is compiled for the first already:
    ``compile_for_start``)."""
    training = plan.params.training
    start, end = plan.initial_epoch, plan.epochs_total
    if not training.freeze_backbone_epochs:
        return [Phase(start, end)]
    switch = _switch(plan)
    unfreeze = Phase(max(start, switch), end, lambda: _unfreeze(plan, model, inputs))
    if start > switch:  # resumed in phase 2: the checkpoint is unfrozen and compiled already
        return [Phase(start, end)]
    if start == switch:  # resumed at the switch: the checkpoint is phase 1's last, still frozen
        return [unfreeze]
    return [Phase(start, switch), unfreeze]


def first_epoch_of_phase(plan: TrainingPlan) -> int:
    """The first epoch (from 0) of the phase the run starts in: where an uninterrupted run's
    callbacks started counting (each ``fit`` starts them afresh)."""
    training = plan.params.training
    if training.freeze_backbone_epochs and plan.initial_epoch >= _switch(plan):
        return _switch(plan)
    return training.init_epoch


def resumes_with_saved_optimizer(plan: TrainingPlan) -> bool:
    """Whether the run's first ``fit`` trains with the checkpoint's optimizer: a resume, but
    not one at the switch to phase 2 (which compiles a new optimizer first)."""
    if plan.resume is None:
        return False
    return not (plan.params.training.freeze_backbone_epochs and plan.initial_epoch == _switch(plan))


def _switch(plan: TrainingPlan) -> int:
    """The epoch at which two-phase fine-tuning unfreezes the backbone."""
    return plan.params.training.init_epoch + plan.params.training.freeze_backbone_epochs


def _compile(
    plan: TrainingPlan, model: keras.Model, lr: LearningRate, inputs: TrainingInputs
) -> None:
    from abyssexp.models.compiling import CompileRecipe, compile_model

    compile_model(model, CompileRecipe.from_params(plan.params, lr, inputs.class_weights))


def _freeze(plan: TrainingPlan, model: keras.Model, inputs: TrainingInputs) -> None:
    from abyssexp.models.finetune import freeze_backbone

    training = plan.params.training
    freeze_backbone(model)
    lr = learning_rate(plan, training.lr, training.freeze_backbone_epochs, inputs.steps_per_epoch)
    _compile(plan, model, lr, inputs)


def _unfreeze(plan: TrainingPlan, model: keras.Model, inputs: TrainingInputs) -> None:
    from abyssexp.models.finetune import unfreeze_backbone

    training = plan.params.training
    unfreeze_backbone(model, training.unfreeze_from)
    remaining = training.epochs - training.freeze_backbone_epochs
    base = training.finetune_lr or training.lr / 10
    lr = learning_rate(plan, base, remaining, inputs.steps_per_epoch)
    _compile(plan, model, lr, inputs)
