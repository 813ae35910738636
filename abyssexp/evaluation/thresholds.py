"""Per-class decision thresholds for sigmoid models, chosen on the validation set.

Training writes ``models/thresholds.json`` for ``best.keras`` (``training.thresholds``: ``f1``
picks each class's threshold of highest F1, ``precision`` the lowest one whose precision reaches
``training.threshold_precision``); ``test`` and ``predict`` use it for that model (and for the
promoted copy of it) unless ``--threshold`` is given; ``report.txt`` lists them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from abyssexp.experiment.layout import THRESHOLDS_FILE
from abyssexp.experiment.promoted import MODEL_FILE

if TYPE_CHECKING:
    import tensorflow as tf

    from abyssexp.schemas.params import Params

DEFAULT_THRESHOLD = 0.5


def choose_thresholds(
    truth: np.ndarray, scores: np.ndarray, policy: str = "f1", target_precision: float = 0.9
) -> list[float]:
    """One threshold per class (predict positive when ``score >= threshold``).

    A class without positives in ``truth`` keeps 0.5; a ``precision`` target no threshold
    reaches falls back to the class's best F1.
    """
    truth = np.asarray(truth) > 0
    chosen = []
    for c in range(truth.shape[1]):
        chosen.append(
            _one_class(truth[:, c], np.asarray(scores[:, c], np.float64), policy, target_precision)
        )
    return chosen


def _one_class(truth: np.ndarray, scores: np.ndarray, policy: str, target: float) -> float:
    positives = int(truth.sum())
    if positives == 0 or len(scores) == 0:
        return DEFAULT_THRESHOLD
    order = np.argsort(-scores, kind="mergesort")
    ordered = scores[order]
    tps = np.cumsum(truth[order])
    fps = np.cumsum(~truth[order])
    last = np.r_[ordered[1:] != ordered[:-1], True]  # one candidate per distinct score
    tps, fps, candidates = tps[last], fps[last], ordered[last]
    precision = tps / (tps + fps)
    recall = tps / positives
    f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    if policy == "precision":
        reaching = np.flatnonzero(precision >= target)
        if len(reaching):
            return float(candidates[reaching[-1]])  # the lowest threshold: the most recall
    return float(candidates[int(np.argmax(f1))])


def save_validation_thresholds(
    checkpoint: Path,
    validation: tf.data.Dataset,
    truth: np.ndarray,
    class_names: list[str],
    params: Params,
) -> Path | None:
    """Choose and write the thresholds of a trained sigmoid model on its validation set."""
    from abyssexp.models.classifier import load_keras_model

    policy = params.training.thresholds
    if policy is None or params.model.output_activation != "sigmoid" or not checkpoint.is_file():
        return None
    model = load_keras_model(checkpoint, compile=False)
    scores = np.asarray(model.predict(validation, verbose=0))[: len(truth)]
    chosen = choose_thresholds(truth, scores, policy, params.training.threshold_precision)
    return write_thresholds(checkpoint.parent, checkpoint.name, class_names, chosen, policy)


def write_thresholds(
    folder: Path, checkpoint: str, class_names: list[str], thresholds: list[float], policy: str
) -> Path:
    from abyssexp.atomic import atomic_write_json

    path = folder / THRESHOLDS_FILE
    atomic_write_json(
        path,
        {
            "checkpoint": checkpoint,
            "policy": policy,
            "class_names": list(class_names),
            "thresholds": [float(t) for t in thresholds],
        },
    )
    return path


def read_thresholds(model_path: Path) -> list[float] | None:
    """The thresholds saved for ``model_path`` (or its promoted copy ``model.keras``), if any."""
    from abyssexp.schemas.model_files import read_thresholds_file

    data = read_thresholds_file(model_path.parent / THRESHOLDS_FILE)
    if data is None or model_path.name not in (data["checkpoint"], MODEL_FILE):
        return None
    return list(data["thresholds"])
