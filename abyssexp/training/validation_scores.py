"""The validation scores of Keras' own validation pass, kept for the PR curves and TP/FP/TN/FN.

Without this, ``ValidationCurves`` ran ``model.predict`` over the whole validation set after
Keras had just run the same model over the same batches to compute ``val_loss``: a second
inference pass every epoch (and a second traced function). Here the model's test step also
returns its predictions under one extra key; the wrapped test function takes them out of the
logs before Keras (or any callback) sees them, so ``val_*`` logs, history.csv and TensorBoard are
unchanged, and the scores are the ones the validation metrics were computed from.

Only where that pass is exactly "the whole validation set once, in order, on one replica": a
``validation_steps`` shorter than the set, several replicas (whose outputs Keras does not
gather) or several steps per execution (Keras returns the last step's outputs only) keep the
second pass (``ValidationScores.scores`` returns None and the caller predicts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

SCORES_KEY = "abyssexp_validation_scores"


class ValidationScores:
    """Installs the capture on a model for one ``fit``; ``scores()`` after each validation."""

    def __init__(self, rows: int, full_pass: bool) -> None:
        self.rows = rows
        self.full_pass = full_pass
        self.batches: list[Any] = []
        self.model: Any = None

    def install(self, model: keras.Model) -> None:
        """Wraps the model's test step and test function (instance attributes, not saved)."""
        if not self.full_pass or not _single_step_single_replica(model):
            return
        self.model = model
        original_step, original_metrics = model.test_step, model.compute_metrics
        original_make = model.make_test_function
        tracing: dict[str, Any] = {"test": False}

        def compute_metrics(x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> Any:
            if tracing["test"]:
                tracing["scores"] = y_pred
            return original_metrics(x, y, y_pred, sample_weight=sample_weight)

        def test_step(data: Any) -> Any:
            tracing["test"] = True
            try:
                logs = original_step(data)
            finally:
                tracing["test"] = False
            return {**logs, SCORES_KEY: tracing.pop("scores")}

        def make_test_function(force: bool = False) -> Any:
            if model.test_function is not None and not force:
                return model.test_function
            original_make(force)
            inner = model.test_function

            def test_function(iterator: Any) -> Any:
                logs = dict(inner(iterator))
                self.batches.append(logs.pop(SCORES_KEY))
                return logs

            model.test_function = test_function
            return test_function

        model.compute_metrics, model.test_step = compute_metrics, test_step
        model.make_test_function = make_test_function
        model.test_function = None  # built again, through the wrapper, on the first validation

    def uninstall(self) -> None:
        """The model as it was: Keras' own test step, built again on its next ``evaluate``."""
        if self.model is None:
            return
        for name in ("compute_metrics", "test_step", "make_test_function"):
            self.model.__dict__.pop(name, None)
        self.model.test_function = None
        self.model = None

    def reset(self) -> None:
        """Called when a validation pass begins."""
        self.batches = []

    def scores(self) -> np.ndarray | None:
        """The scores of the last validation pass, one row per validation image, or None when
        none were captured (not installed, or the pass did not cover the set)."""
        if self.model is None or not self.batches:
            return None
        scores = np.concatenate([np.asarray(batch) for batch in self.batches])
        if len(scores) < self.rows:
            return None
        return scores[: self.rows]


def _single_step_single_replica(model: keras.Model) -> bool:
    replicas = getattr(model.distribute_strategy, "num_replicas_in_sync", 1)
    return replicas == 1 and getattr(model, "steps_per_execution", 1) == 1
