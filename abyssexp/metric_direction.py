"""Which way a metric is better, what range it lives in, and how sure "95 %" is: one home.

Loss and error minimise, and so do Keras' other lower-is-better metrics (``mse``, ``hinge``,
``binary_crossentropy``, ``false_positives``, ...); every other metric (accuracy, F1, mAP,
precision, ...) maximises. The rule reads the name only, so ``history.csv``'s ``val_loss``, a test result's
``CONDITION:accuracy`` and Optuna's ``--metric val_error`` all get the same answer wherever it is
asked: the checkpoint and early-stopping callbacks, ``compare``'s ordering and its bold "best",
the summary file's best epoch, seed groups, and an Optuna study's default direction. Before this
module each of them held its own copy, and they disagreed (Optuna maximised ``val_error``).

No NumPy, no TensorFlow: ``list`` and ``show`` read summaries through it.
"""

from __future__ import annotations

from typing import Literal

#: The coverage every interval and verdict of abyssexp claims.
LEVEL = 0.95

MINIMIZE = "minimize"
MAXIMIZE = "maximize"
#: Optuna's words, and what a sweep file's ``direction`` may hold.
DIRECTIONS = (MAXIMIZE, MINIMIZE)

#: A metric whose name holds one of these is lower-is-better.
LOWER_WORDS = ("loss", "error")
#: Keras metrics that are lower-is-better without saying so (their ``val_`` and ``CONDITION:``
#: forms too), lower case without underscores: Keras' ``auto`` mode knew these, ours must.
LOWER_NAMES = frozenset(
    {
        "mse", "mae", "mape", "msle", "bce", "hinge", "squaredhinge", "categoricalhinge",
        "binarycrossentropy", "categoricalcrossentropy", "sparsecategoricalcrossentropy",
        "kldivergence", "poisson", "falsepositives", "falsenegatives",
    }
)  # fmt: skip
#: A metric whose name holds one of these (and is not lower-is-better) is a proportion or a
#: score in [0, 1]: its intervals must stay inside that range.
UNIT_WORDS = ("accuracy", "f1", "map", "precision", "recall", "auc", "iou")


def base_name(metric: str) -> str:
    """``val_mse`` and ``CONDITION:mse`` → ``mse``: the metric without where it was measured."""
    return metric.rpartition(":")[2].removeprefix("val_")


def lower_is_better(metric: str) -> bool:
    """True for ``loss``, ``val_loss``, ``val_error``, ``val_mse``, ``CONDITION:...loss``."""
    if any(word in metric for word in LOWER_WORDS):
        return True
    return base_name(metric).lower().replace("_", "") in LOWER_NAMES


def direction(metric: str) -> str:
    """``minimize`` or ``maximize``: Optuna's default for a study on ``metric``."""
    return MINIMIZE if lower_is_better(metric) else MAXIMIZE


def keras_mode(metric: str) -> Literal["min", "max"]:
    """``min`` or ``max`` for a Keras callback's ``mode`` (never Keras' own ``auto``, which
    guesses from the metric objects and fails on metrics computed outside them)."""
    return "min" if lower_is_better(metric) else "max"


def sign(metric: str) -> float:
    """A sort key's factor: ``sorted(values, key=lambda v: sign(m) * v)`` puts the best first."""
    return 1.0 if lower_is_better(metric) else -1.0


def in_unit_interval(metric: str) -> bool:
    """True when the name says the metric lives in [0, 1] (accuracy, F1, mAP, ...): loss and
    unknown names do not. Callers still check the values: the name is a claim."""
    name = base_name(metric).lower()
    return not lower_is_better(name) and any(word in name for word in UNIT_WORDS)
