"""Resume is exact for every recipe: a run stopped by SIGTERM in epoch 2 and resumed with
``--resume`` writes the same ``history.csv`` as an uninterrupted run, every column (validation
included) equal to the last digit.

Each recipe's draws and state are what a resume must restore: the data order and the
augmentation draws (the pipeline skips to the resumed epoch), the batch-norm recompute batches
(drawn at the epoch's place in the training stream), MixUp/CutMix/RandAugment (seeded per batch
from the stream), the EMA weights and the accumulated gradients (in the checkpoint's optimizer),
the random state of the model's layers (``train_state.json``), each phase's place in the data,
and the epochs a learning-rate plateau has counted (``history.csv``'s, fed back).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abyssexp.errors import ExperimentStateError
from abyssexp.experiment.checkpoints import read_train_state, write_train_state
from abyssexp.experiment.layout import ExperimentPaths
from tests.training.helpers import (
    history,
    module_scratch,
    new_tiny,
    record,
    straight_then_interrupted_pairs,
    trained_in_one_process,
)

EXACT = [
    "--set",
    "training.epochs=3",
    "--set",
    "training.deterministic=true",
    "--set",
    "training.seed=7",
    "--set",
    "training.batch_size=8",  # 48 training images: 6 steps an epoch
    "--set",
    "callbacks.pr_curves=false",  # tfpn stays on: val_macro_f1 is a column too
    "--set",
    "callbacks.log_images=0",
]

RECIPES: dict[str, list[str]] = {
    "plain": [],
    "bn_recompute": ["training.bn_recompute_batches=2"],
    "randaugment": ['augmentation.randaugment={"num_ops": 2, "magnitude": 0.5, "rate": 0.8}'],
    "mixup": ['augmentation.mixup={"alpha": 0.4}'],
    "cutmix": ['augmentation.cutmix={"alpha": 1.0}'],
    "ema": ["training.ema=true"],
    # 4 does not divide the 6 steps of an epoch: gradients are still accumulating when an
    # epoch (and its checkpoint) ends.
    "accumulation": ["training.gradient_accumulation_steps=4"],
    # Stopped in epoch 2: resumed inside phase 1, then the switch to phase 2.
    "two_phases": ["training.freeze_backbone_epochs=2", "training.finetune_lr=0.001"],
    # Draws of the model's own layers (dropout, the seed's augmentation and RandAugment at the
    # front of the model), made again by the recompute's training-mode passes.
    "model_layers": [
        "model.dropout=0.3",
        "augmentation.enabled=true",
        "augmentation.placement=model",
        "augmentation.flip_lr=true",
        "augmentation.rotate=[-20,20]",
        'augmentation.randaugment={"num_ops": 1, "magnitude": 0.4}',
        "training.bn_recompute_batches=1",
    ],
    # val_loss rises in epoch 2 (seed 7): the rate halves after it, a decision that counts
    # the epoch before the cut; a resume that forgot it trained epoch 3 at the old rate.
    "plateau": ["training.lr_schedule=plateau", 'training.lr_schedule_params={"patience": 1}'],
}


@pytest.fixture(scope="module")
def recipe_runs(
    shapes: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, Path, str, str, str]]:
    """Per recipe: the straight root, the cut one, how the cut run ended, the resume's exit
    code and the resuming process's stderr. Every recipe's straight and cut runs share one
    process (one TensorFlow start) and every resume another, new one: 2 processes instead of
    18, each run still planned, built and seeded afresh from its own params."""
    from typer.testing import CliRunner

    with module_scratch(tmp_path_factory, "recipes") as scratch:
        pairs = {}
        for recipe, items in RECIPES.items():
            settings = [*EXACT, *(arg for item in items for arg in ("--set", item))]
            pairs[recipe] = (
                new_tiny(CliRunner(), shapes, *settings, name=f"{recipe}-straight"),
                new_tiny(CliRunner(), shapes, *settings, name=f"{recipe}-cut"),
            )
        # The straight runs, each then SIGTERM to itself after batch 3 of epoch 2 in its cut
        # one: a real signal through train's own handler.
        interrupted = straight_then_interrupted_pairs(list(pairs.values()), scratch)
        # a train_state.json from before layer random states were saved
        _as_version_1(pairs["plain"][1] / "models" / "train_state.json")
        codes, resumed = trained_in_one_process(
            [cut for _, cut in pairs.values()], scratch, "--resume"
        )
    return {
        recipe: (straight, cut, ended.stdout, code, resumed.stderr[-3000:])
        for (recipe, (straight, cut)), ended, code in zip(
            pairs.items(), interrupted, codes, strict=True
        )
    }


@pytest.mark.slow
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_resumed_run_has_the_history_of_the_uninterrupted_one(recipe: str, recipe_runs) -> None:
    straight, cut, ended, code, stderr = recipe_runs[recipe]
    assert ended.split()[-2:] == ["interrupted", "1"]
    assert code == "0", f"the resume of {recipe} exited {code}: {stderr}"
    assert record(cut)["status"] == "completed"

    expected, got = history(straight), history(cut)
    assert [row["epoch"] for row in got] == ["1", "2", "3"]
    assert any(column.startswith("val_") for column in expected[0])
    if recipe == "plateau":  # the decision the resume must remember was taken
        rates = [float(row["lr"]) for row in expected]
        assert rates[2] == pytest.approx(rates[1] / 2) and rates[1] == rates[0]
    for want, row in zip(expected, got, strict=True):
        differing = {k: (want[k], row.get(k)) for k in want if row.get(k) != want[k]}
        assert not differing and row.keys() == want.keys(), f"epoch {want['epoch']}: {differing}"


def _as_version_1(path: Path) -> None:
    state = json.loads(path.read_text())
    assert state.pop("state_version") == 2 and state.pop("layer_random_states") == []
    path.write_text(json.dumps(state))


OLD_STATE = {
    "epoch": 2,
    "checkpoint": "model_2.keras",
    "monitor": "val_loss",
    "mode": "min",
    "best_value": 0.5,
    "best_epoch": 1,
    "time": 1.0,
}


def test_train_state_reads_version_1_and_refuses_what_it_cannot_trust(tmp_path: Path) -> None:
    paths = ExperimentPaths(tmp_path)
    paths.models.mkdir()
    paths.train_state.write_text(json.dumps(OLD_STATE))
    state = read_train_state(paths)
    assert (state.epoch, state.best_value, state.state_version) == (2, 0.5, 1)
    assert state.layer_random_states is None  # nothing to restore: the draws start anew

    write_train_state(paths, state.model_copy(update={"layer_random_states": [(5, 9)]}))
    written = json.loads(paths.train_state.read_text())
    assert written["state_version"] == 2 and written["layer_random_states"] == [[5, 9]]
    assert read_train_state(paths).layer_random_states == [(5, 9)]

    for bad, says in (
        ({**OLD_STATE, "checkpoint": "../../elsewhere/model_2.keras"}, "must be model_2.keras"),
        ({**OLD_STATE, "epoch": "two"}, "epoch"),
        ({**OLD_STATE, "layer_random_states": [[1]]}, "layer_random_states"),
        ([1, 2], "does not parse"),
    ):
        paths.train_state.write_text(json.dumps(bad))
        with pytest.raises(ExperimentStateError, match="train_state.json") as raised:
            read_train_state(paths)
        assert says in str(raised.value) and "--from" in str(raised.value)


def test_layer_random_states_continue_a_models_draws() -> None:
    import keras
    import numpy as np

    from abyssexp.models.random_state import layer_random_states, restore_layer_random_states

    def model() -> keras.Model:
        inputs = keras.Input((64,))
        return keras.Model(inputs, keras.layers.Dropout(0.5)(inputs))

    ones = np.ones((2, 64), "float32")
    first = model()
    first(ones, training=True)
    states = layer_random_states(first)
    assert len(states) == 1
    expected = np.asarray(first(ones, training=True))

    second = model()  # as loaded from a checkpoint: a fresh seed, its draws start over
    restore_layer_random_states(second, states, "train_state.json")
    np.testing.assert_array_equal(np.asarray(second(ones, training=True)), expected)
    with pytest.raises(ExperimentStateError, match="holds 2 layer random states"):
        restore_layer_random_states(second, [*states, (1, 2)], "train_state.json")
