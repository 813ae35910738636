"""The training and validation pipelines, and where augmentation runs.

``augmentation.placement: pipeline`` (tf backend) augments each decoded file in the decoding map;
``placement: model`` puts a ``SeedAugmentation`` layer in the model; the imgaug backend augments
batches in the pipeline. Each reader of the training set gets a pipeline of its own (see
``TrainingInputs.fresh_train``).

The training stream is one seeded sequence of batches from ``training.init_epoch`` on (order,
augmentation and recipe draws included); a reader that starts at batch ``n`` skips to it. Every
reader is placed by its epoch, never by how many readers came before it, so a resumed run and
each ``fit`` of a two-phase run read exactly what an uninterrupted run reads there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from abyssexp.training.plan import TrainingPlan

if TYPE_CHECKING:
    import tensorflow as tf

    from abyssexp.augmentation.recipes import BatchRecipes
    from abyssexp.schemas.params import AugmentationParams

    #: ``fn(images or image, seed)`` → augmented, for ``make_tf_dataset``.
    Augmenter = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


@dataclass
class TrainingInputs:
    """What ``fit`` reads, and how to make more readers of the training set."""

    #: fit's reader from the run's first epoch (``train_at(plan.initial_epoch)``).
    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    steps_per_epoch: int
    validation_steps: int | None
    #: ``fresh_train(n)``: a new, uncached reader of the training stream from its ``n``-th batch.
    fresh_train: Callable[..., tf.data.Dataset]
    #: ``train_at(epoch)``: fit's reader from the first batch of ``epoch`` (``train`` for the
    #: run's first epoch, a new reader for a later phase's).
    train_at: Callable[[int], tf.data.Dataset]
    model_augmentation: dict[str, Any] | None
    class_weights: list[float] | None


def build_inputs(plan: TrainingPlan) -> TrainingInputs:
    """The pipelines of a plan (imports TensorFlow)."""
    from abyssexp.datasets.image_cache import pipeline_settings
    from abyssexp.datasets.pipeline import PipelineSpec, decode_plan, make_tf_dataset, steps_for

    training = plan.params.training
    disk = pipeline_settings(plan.paths.scratch, training.cache, training.cache_limit_gb)
    size = plan.input_shape[:2]
    batch_augment, image_augment, model_augmentation = _augmentation_placement(plan)
    recipes = _recipes(plan)
    decode = decode_plan(plan.train_set.image_paths, size)
    steps = training.steps_per_epoch or steps_for(len(plan.train_set), training.batch_size)

    def training_pipeline(skip_batches: int = 0, cache: bool = False) -> tf.data.Dataset:
        """A new training dataset from batch ``skip_batches`` of the stream. Each reader needs
        its own: iterators of one dataset share its shuffle and augmentation seed state (a
        second iterator starts a different order), and a second reader running ahead in the
        background (the image log, batch-norm recomputation) would change fit's order by timing
        alone. Only fit's own caches (``cache_train``): one copy of the decoded set in memory."""
        spec = PipelineSpec(
            input_size=size,
            batch_size=training.batch_size,
            training=True,
            seed=training.seed,
            repeat=True,
            cache=cache,
            normalise_targets=plan.softmax,
            parallel_calls=training.workers,
            deterministic=True if training.deterministic else None,
            skip=skip_batches * training.batch_size,
            **disk,
        )
        return make_tf_dataset(
            plan.train_set,
            spec,
            augment=batch_augment,
            augment_image=image_augment,
            plan=decode,
            recipes=recipes,
        )

    train = training_pipeline(
        (plan.initial_epoch - training.init_epoch) * steps, training.cache_train
    )

    def train_at(epoch: int) -> tf.data.Dataset:
        """fit's reader from ``epoch``: where an uninterrupted run's stream is at that epoch. A
        later phase's fit gets a new reader there: a second iterator of ``train`` would start a
        different order."""
        if epoch == plan.initial_epoch:
            return train
        return training_pipeline((epoch - training.init_epoch) * steps, training.cache_train)

    validation, validation_steps = None, None
    if plan.val_set is not None:
        spec = PipelineSpec(
            input_size=size,
            batch_size=training.batch_size,
            cache=training.cache_val,
            normalise_targets=plan.softmax,
            parallel_calls=training.workers,
            **disk,
        )
        validation = make_tf_dataset(plan.val_set, spec)
        validation_steps = training.validation_steps or steps_for(
            len(plan.val_set), training.batch_size
        )
    return TrainingInputs(
        train=train,
        validation=validation,
        steps_per_epoch=steps,
        validation_steps=validation_steps,
        fresh_train=training_pipeline,
        train_at=train_at,
        model_augmentation=model_augmentation,
        class_weights=_class_weights(plan),
    )


def _augmentation_placement(
    plan: TrainingPlan,
) -> tuple[Augmenter | None, Augmenter | None, dict[str, Any] | None]:
    """(batch augmenter for the pipeline, per-image augmenter, augmentation for the model)."""
    augmentation = plan.params.augmentation
    seed = plan.params.training.seed
    if _in_model(augmentation) and (augmentation.enabled or augmentation.randaugment):
        return None, None, augmentation.model_dump(mode="json")
    if not augmentation.enabled:
        return None, None, None
    if augmentation.backend == "imgaug":
        from abyssexp.augmentation.imgaug_backend import batch_augmenter

        return batch_augmenter(augmentation, seed=seed), None, None
    from abyssexp.augmentation.tf_backend import image_augmenter_fn

    return None, image_augmenter_fn(augmentation, plan.input_shape[:2], seed), None


def _in_model(augmentation: AugmentationParams) -> bool:
    return augmentation.backend == "tf" and augmentation.placement == "model"


def _recipes(plan: TrainingPlan) -> BatchRecipes | None:
    """The pipeline's batch recipes (RandAugment unless it runs in the model; MixUp, CutMix)."""
    augmentation = plan.params.augmentation
    if not augmentation.recipes():
        return None
    from abyssexp.augmentation.recipes import batch_recipes

    seed = plan.params.training.seed
    return batch_recipes(augmentation, seed, randaugment=not _in_model(augmentation))


def _class_weights(plan: TrainingPlan) -> list[float] | None:
    setting = plan.params.training.class_weights
    count = plan.labels.num_classes
    if setting == "balanced":
        weights = plan.train_set.class_weights()
        return [weights[c] for c in range(count)]
    if isinstance(setting, dict):
        return [float(setting.get(str(c), 1.0)) for c in range(count)]
    return None
