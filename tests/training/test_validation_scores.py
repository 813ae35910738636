"""The PR curves and per-class counts come from Keras' own validation pass (issue 24): no second
inference pass, the same values a separate ``predict`` gives, and nothing extra in the logs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def _fit(tmp_path: Path, validation_steps: int | None, epochs: int = 2):
    """A tiny real model fitted with ``ValidationCurves``; 45 validation rows, batches of 16
    (the last one partial)."""
    import keras
    import tensorflow as tf

    from abyssexp.training.callbacks import ValidationCurves

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 5)).astype(np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 3, 96), 3)
    train = tf.data.Dataset.from_tensor_slices((x[:51], y[:51])).batch(16).repeat()
    val = tf.data.Dataset.from_tensor_slices((x[51:], y[51:])).batch(16)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    partial = {"full_pass": False} if validation_steps else {}
    curves = ValidationCurves(val, y[51:], ["a", "b", "c"], tmp_path, "softmax", **partial)
    history = model.fit(
        train,
        epochs=epochs,
        steps_per_epoch=3,
        validation_data=val,
        validation_steps=validation_steps,
        callbacks=[curves],
        verbose=0,
        shuffle=False,
    )
    return model, val, y[51:], history.history


def _macro_f1(scores: np.ndarray, targets: np.ndarray) -> float:
    from abyssexp.evaluation.metrics import confusion_counts, predicted_labels

    counts = confusion_counts(targets > 0, predicted_labels(scores, "softmax"))
    f1s = []
    for c in range(targets.shape[1]):
        tp, fp, fn = (int(counts[k][c]) for k in ("tp", "fp", "fn"))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
    return float(np.mean(f1s))


@pytest.mark.slow
def test_curves_reuse_the_validation_pass_and_match_a_separate_predict(tmp_path: Path) -> None:
    model, val, targets, history = _fit(tmp_path, validation_steps=None)
    # No second inference pass: predict was never built during fit.
    assert model.predict_function is None
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "val_macro_f1",
                            "val_distinct_predictions"}  # fmt: skip
    scores = model.predict(val, verbose=0)  # the last epoch's weights, as its validation saw
    assert history["val_macro_f1"][-1] == _macro_f1(scores, targets)
    # The model is Keras' own again: its test step and evaluate logs are untouched.
    assert "test_step" not in model.__dict__ and "compute_metrics" not in model.__dict__
    assert set(model.evaluate(val, verbose=0, return_dict=True)) == {"loss", "accuracy"}


@pytest.mark.slow
def test_a_partial_validation_pass_still_scores_the_whole_set(tmp_path: Path) -> None:
    model, val, targets, history = _fit(tmp_path, validation_steps=1, epochs=1)
    assert model.predict_function is not None  # Keras saw 16 of 45 rows: predicted again
    assert history["val_macro_f1"][-1] == _macro_f1(model.predict(val, verbose=0), targets)
