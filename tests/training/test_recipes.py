"""Fine-tuning recipes, each shown to act: two-phase fine-tuning (frozen backbone unchanged in
phase 1, batch norm frozen in phase 2, resumable across the switch), EMA, warm-up, label
smoothing, gradient accumulation, sigmoid thresholds, test-time augmentation."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from abyssexp.cli import app
from tests.training.helpers import (
    INTERRUPTING_DRIVER,
    history,
    new_tiny,
    record,
    run_in_scratch,
    train_in_scratch,
)


def _backbone(path: Path) -> tuple[list[np.ndarray], list[str]]:
    from abyssexp.models.classifier import backbone_of, load_keras_model

    base = backbone_of(load_keras_model(path, compile=False))
    return [np.asarray(w) for w in base.weights], [w.path for w in base.weights]


@pytest.mark.slow
def test_two_phase_finetuning_freezes_then_unfreezes_and_resumes_across_the_switch(
    runner, scratch: Path, shapes
) -> None:
    pretrained = new_tiny(runner, shapes, "--set", "training.epochs=1", name="pretrain")
    source = pretrained / "models" / "best.keras"  # written by the driver before root trains
    root = new_tiny(
        runner,
        shapes,
        "--set",
        f"model.init_weights={source}",
        "--set",
        "training.epochs=3",
        "--set",
        "training.freeze_backbone_epochs=1",
        "--set",
        "training.finetune_lr=0.001",
        "--set",
        "training.batch_size=8",
        "--set",
        "training.keep_checkpoints=null",
        "--set",
        "callbacks.pr_curves=false",
        name="finetune",
    )
    # The pretraining, then SIGTERM in root's epoch 2 (the first epoch of phase 2): one process.
    cut = run_in_scratch(
        [sys.executable, "-c", INTERRUPTING_DRIVER, str(pretrained), f"cut={root}"], scratch
    )
    assert cut.returncode == 0, cut.stderr[-3000:]
    assert cut.stdout.splitlines() == ["completed 1", "interrupted 1"], cut.stderr[-3000:]
    resumed = train_in_scratch(root, scratch, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [r["epoch"] for r in history(root)] == ["1", "2", "3"]
    assert record(root)["status"] == "completed"

    start, names = _backbone(source)
    after_phase_1, _ = _backbone(root / "models" / "model_1.keras")
    after_phase_2, _ = _backbone(root / "models" / "model_3.keras")
    for name, a, b in zip(names, start, after_phase_1, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"phase 1 changed {name}")
    changed = {
        n
        for n, a, b in zip(names, after_phase_1, after_phase_2, strict=True)
        if not np.array_equal(a, b)
    }
    assert any("kernel" in n for n in changed)  # the backbone trained in phase 2 ...
    assert not any("moving_" in n or "gamma" in n or "beta" in n for n in changed), changed
    # ... but its batch-norm layers stayed frozen, statistics included.
    rates = [float(r["lr"]) for r in history(root)]
    assert rates[0] == pytest.approx(0.002) and rates[1] == pytest.approx(0.001)


@pytest.mark.slow
def test_ema_warmup_smoothing_and_accumulation_act(runner, scratch: Path, shapes) -> None:
    root = new_tiny(
        runner,
        shapes,
        "--set",
        "training.epochs=2",
        "--set",
        "training.ema=true",
        "--set",
        "training.warmup_epochs=2",
        "--set",
        "training.label_smoothing=0.1",
        "--set",
        "training.gradient_accumulation_steps=2",
        "--set",
        "training.keep_checkpoints=null",
        "--set",
        "training.batch_size=8",  # 6 steps, 3 updates an epoch: the average moves off the raw
        "--set",
        "callbacks.pr_curves=false",
    )
    done = runner.invoke(app, ["train", str(root), "--quiet"])  # in the worker: no new process
    assert done.exit_code == 0, done.output[-3000:]
    from abyssexp.models.classifier import load_keras_model

    model = load_keras_model(root / "models" / "model_1.keras", compile=True)
    optimizer = model.optimizer
    assert optimizer.use_ema and optimizer.gradient_accumulation_steps == 2
    # Saved after epoch 1 of 2: the averaged weights; the optimizer keeps the raw ones
    # (SwapEMAWeights; after the last epoch Keras makes both the average).
    averaged = [np.asarray(v) for v in optimizer._model_variables_moving_average]
    raw_differs = [
        not np.allclose(np.asarray(v), a)
        for v, a in zip(model.trainable_variables, averaged, strict=True)
    ]
    assert any(raw_differs)
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    rates = [float(r["lr"]) for r in history(root)]
    assert rates[0] < rates[1] <= 0.002 + 1e-9  # warm-up over the two epochs


@pytest.mark.slow
def test_sigmoid_thresholds_are_chosen_saved_and_used_and_tta_changes_scores(
    runner, scratch: Path, shapes
) -> None:
    root = new_tiny(
        runner,
        shapes,
        "--set",
        "training.epochs=2",
        "--set",
        "model.output_activation=sigmoid",
        "--set",
        "training.monitor=val_loss",
    )
    trained = runner.invoke(app, ["train", str(root), "--quiet"])  # in the worker
    assert trained.exit_code == 0, trained.output[-3000:]
    saved = json.loads((root / "models" / "thresholds.json").read_text())
    assert saved["checkpoint"] == "best.keras" and saved["policy"] == "f1"
    assert len(saved["thresholds"]) == 3 and all(0.0 < t <= 1.0 for t in saved["thresholds"])

    def test(condition: str, *extra: str) -> dict:
        result = runner.invoke(
            app,
            ["test", str(root), "--coco", str(shapes["test"]), "--condition", condition, *extra],
        )
        assert result.exit_code == 0, result.output
        return json.loads((root / "testing" / condition / "metrics.json").read_text())

    chosen = test("saved")
    assert chosen["threshold"] == pytest.approx(saved["thresholds"])
    report = (root / "testing" / "saved" / "report.txt").read_text()
    assert "per-class thresholds" in report
    assert test("fixed", "--threshold", "0.5")["threshold"] == 0.5
    assert test("mirrored", "--tta", "flip")["tta"] == "flip"


def test_tta_flip_averages_the_image_and_its_mirror(shapes) -> None:
    import keras

    from abyssexp.datasets.coco import ImageClassificationDataset
    from abyssexp.evaluation.evaluate import _predict

    # A model that sees left from right: a fixed left-to-right ramp of weights.
    inputs = keras.Input((32, 32, 3))
    flat = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255.0)(inputs))
    dense = keras.layers.Dense(2, activation="softmax")
    model = keras.Model(inputs, dense(flat))
    ramp = np.tile(np.linspace(-1, 1, 32)[None, :, None], (32, 1, 3)).reshape(-1)
    dense.set_weights([np.stack([ramp, -ramp], axis=1).astype("float32"), np.zeros(2, "float32")])
    dataset = ImageClassificationDataset(shapes["test"])
    plain, _ = _predict(model, dataset, 8, None)
    mirrored, _ = _predict(model, dataset, 8, None, tta="flip")
    assert np.max(np.abs(plain - mirrored)) > 1e-3  # an asymmetric image's scores change
    assert np.allclose(mirrored.sum(axis=1), 1.0)
    # The mean of an image's and its mirror's scores is symmetric: for this model, 0.5 each.
    np.testing.assert_allclose(mirrored, 0.5, atol=1e-5)
