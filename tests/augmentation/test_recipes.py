"""RandAugment, MixUp and CutMix (``augmentation.randaugment/mixup/cutmix``): each acts on
training batches, deterministically for a seed, never on validation batches, and a run using
them resumes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from abyssexp.schemas.params import AugmentationParams, Params
from tests.training.helpers import history, new_tiny, record


def _batches(
    shapes, augmentation: dict | None, training: bool = True, seed: int = 3, softmax: bool = True
):
    """Every batch of one epoch of the shapes training set (softmax-normalised targets, or the
    multi-hot targets of a sigmoid model)."""
    from abyssexp.augmentation.recipes import batch_recipes
    from abyssexp.datasets.coco import ImageClassificationDataset
    from abyssexp.datasets.pipeline import PipelineSpec, make_tf_dataset

    dataset = ImageClassificationDataset(shapes["train"])
    recipes = None
    if augmentation is not None:
        recipes = batch_recipes(AugmentationParams.model_validate(augmentation), seed)
    spec = PipelineSpec(
        input_size=(32, 32),
        batch_size=8,
        training=training,
        seed=seed,
        normalise_targets=softmax,
        deterministic=True,
    )
    batches = make_tf_dataset(dataset, spec, recipes=recipes)
    return [(np.asarray(x, np.float32), np.asarray(y)) for x, y in batches]


def test_recipes_are_off_by_default_and_in_the_schema() -> None:
    params = Params()
    assert params.augmentation.recipes() == []
    fields = Params.model_json_schema()["$defs"]["AugmentationParams"]["properties"]
    assert {"randaugment", "mixup", "cutmix"} <= set(fields)
    docs = (Path(__file__).parents[2] / "docs" / "params.md").read_text()
    for key in ("augmentation.randaugment", "augmentation.mixup", "augmentation.cutmix"):
        assert key in docs


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["mixup", "cutmix"])
def test_mixed_targets_are_convex_combinations_summing_to_one(shapes, recipe: str) -> None:
    plain = _batches(shapes, None, training=False)
    mixed = _batches(shapes, {recipe: {"alpha": 0.8}}, training=False)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(plain, mixed, strict=True))
    batches = _batches(shapes, {recipe: {"alpha": 0.8}})
    targets = np.concatenate([y for _, y in batches])
    assert np.allclose(targets.sum(axis=1), 1.0, atol=1e-5)
    assert targets.min() >= -1e-6 and targets.max() <= 1 + 1e-6
    # Some targets are truly mixed: two classes with weights strictly between 0 and 1.
    assert ((targets > 0.01) & (targets < 0.99)).any(axis=1).sum() >= 4
    again = _batches(shapes, {recipe: {"alpha": 0.8}})
    for (x1, y1), (x2, y2) in zip(batches, again, strict=True):
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2)


def test_sigmoid_targets_become_soft_targets_in_zero_one(shapes) -> None:
    batches = _batches(shapes, {"mixup": {"alpha": 0.8}}, softmax=False)
    targets = np.concatenate([y for _, y in batches])
    assert targets.min() >= -1e-6 and targets.max() <= 1 + 1e-6
    assert ((targets > 0.01) & (targets < 0.99)).any()


@pytest.mark.slow
def test_randaugment_changes_pixels_the_same_way_for_a_seed(shapes) -> None:
    config = {"randaugment": {"num_ops": 2, "magnitude": 0.6}}
    plain = _batches(shapes, None)
    first = _batches(shapes, config)
    second = _batches(shapes, config)
    other_seed = _batches(shapes, config, seed=4)
    changed = [np.abs(a[0] - b[0]).mean() for a, b in zip(plain, first, strict=True)]
    assert min(changed) > 1.0
    for (x1, y1), (x2, y2) in zip(first, second, strict=True):
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other_seed, strict=True))
    # RandAugment leaves the targets alone.
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(plain, first, strict=True))


@pytest.mark.slow
def test_randaugment_rate_zero_leaves_images_alone(shapes) -> None:
    plain = _batches(shapes, None)
    none = _batches(shapes, {"randaugment": {"rate": 0.0}})
    for a, b in zip(plain, none, strict=True):
        assert np.array_equal(a[0], b[0])


def test_validation_batches_are_untouched(shapes) -> None:
    config = {"randaugment": {"num_ops": 3}, "mixup": {"alpha": 1.0}, "cutmix": {}}
    plain = _batches(shapes, None, training=False)
    guarded = _batches(shapes, config, training=False)
    for (x1, y1), (x2, y2) in zip(plain, guarded, strict=True):
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2)


def test_model_placement_layer_acts_in_training_only() -> None:
    import tensorflow as tf

    from abyssexp.models.layers import RandAugmentation

    layer = RandAugmentation({"num_ops": 2, "magnitude": 0.7}, seed=1)
    images = tf.constant(np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)), tf.float32)
    assert np.array_equal(layer(images, training=False).numpy(), images.numpy())
    assert np.abs(layer(images, training=True).numpy() - images.numpy()).mean() > 1.0


def test_preview_shows_mixed_images_with_their_mixed_labels() -> None:
    from abyssexp.augmentation.preview import _label_text, recipe_versions

    rng = np.random.default_rng(0)
    mine = rng.integers(0, 255, (4, 32, 32, 3)).astype(np.uint8)
    theirs = rng.integers(0, 255, (4, 32, 32, 3)).astype(np.uint8)
    params = AugmentationParams.model_validate({"mixup": {"alpha": 2.0}})
    partner = (None, theirs, np.array([0.0, 1.0], np.float32))
    images, targets = recipe_versions(mine, np.array([1.0, 0.0], np.float32), partner, params, 3)
    assert images.shape == mine.shape and images.dtype == np.uint8
    assert np.allclose(targets.sum(axis=1), 1.0, atol=1e-5)
    assert ((targets > 0.01) & (targets < 0.99)).all(axis=1).any()
    mixed = targets[np.argmax((targets > 0.01).all(axis=1))]
    assert " + " in _label_text(mixed, ["circle", "square"])


def test_a_recipe_is_switched_on_by_setting_one_of_its_fields(runner, scratch, shapes) -> None:
    root = new_tiny(runner, shapes, "--set", "augmentation.mixup.alpha=0.3")
    params = json.loads((root / "models" / "params.json").read_text())["augmentation"]
    assert params["mixup"] == {"alpha": 0.3}
    assert params["randaugment"] is None and params["cutmix"] is None


def test_recipes_are_validated() -> None:
    from pydantic import ValidationError

    for bad in (
        {"randaugment": {"num_ops": 0}},
        {"randaugment": {"magnitude": 1.5}},
        {"mixup": {"alpha": 0}},
        {"cutmix": {"alpha": 2.0}},
        {"mixup": {"beta": 1}},
    ):
        with pytest.raises(ValidationError):
            AugmentationParams.model_validate(bad)


RECIPES = [
    "--set",
    'augmentation.randaugment={"num_ops": 2, "magnitude": 0.5, "rate": 0.5}',
    "--set",
    'augmentation.mixup={"alpha": 0.4}',
    "--set",
    'augmentation.cutmix={"alpha": 1.0}',
    "--set",
    "augmentation.enabled=true",
    "--set",
    "augmentation.flip_lr=true",
]


PLACEMENTS = ("pipeline", "model")


@pytest.fixture(scope="module")
def placement_runs(
    shapes: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, Path, str, str, str]]:
    """Per placement: the straight root, the cut one, the cut one's status before its resume,
    the resume's exit code and the resuming process's stderr. Both placements' straight and
    cut runs share one process and both resumes another, new one."""
    from typer.testing import CliRunner

    from tests.training.helpers import (
        DETERMINISTIC,
        module_scratch,
        straight_then_interrupted_pairs,
        trained_in_one_process,
    )

    with module_scratch(tmp_path_factory, "recipes") as scratch:
        pairs = {}
        for placement in PLACEMENTS:
            where = ["--set", f"augmentation.placement={placement}"]
            recipes = RECIPES
            if placement == "model":
                # The seed's dict in the model (SeedAugmentation) does not resume exactly on its
                # own (its seed generator is not in the checkpoint), so this one checks the
                # recipes alone.
                recipes = RECIPES[:6]
            settings = [*DETERMINISTIC, *recipes, *where]
            pairs[placement] = (
                new_tiny(CliRunner(), shapes, *settings, name=f"{placement}-straight"),
                new_tiny(CliRunner(), shapes, *settings, name=f"{placement}-cut"),
            )
        straight_then_interrupted_pairs(list(pairs.values()), scratch)
        before = [record(cut)["status"] for _, cut in pairs.values()]
        codes, resumed = trained_in_one_process(
            [cut for _, cut in pairs.values()], scratch, "--resume"
        )
    return {
        placement: (straight, cut, status, code, resumed.stderr[-3000:])
        for (placement, (straight, cut)), status, code in zip(
            pairs.items(), before, codes, strict=True
        )
    }


@pytest.mark.slow
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_a_run_with_the_recipes_resumes_exactly(placement: str, placement_runs) -> None:
    straight, cut, status_before, code, stderr = placement_runs[placement]
    assert status_before == "interrupted"
    assert code == "0", f"the resume exited {code}: {stderr}"
    assert history(cut) == history(straight)
    params = json.loads((cut / "models" / "params.json").read_text())
    assert params["augmentation"]["mixup"] == {"alpha": 0.4}
