"""After a fold trial completes: its out-of-fold predictions saved as ``testing/heldout/``.

Which images a trial holds out is the sweep's business (``sweeps.heldout``); testing the trial's
best checkpoint on them is an ordinary ``abyssexp test``, run here so that ``data label-issues``
reads the K files and never loads TensorFlow itself.
"""

from __future__ import annotations

import logging
from pathlib import Path

from abyssexp.experiment.layout import VAL_COCO, ExperimentPaths
from abyssexp.sweeps.heldout import HELDOUT_CONDITION, heldout_inputs, trial_fold

logger = logging.getLogger(__name__)


def save_heldout_predictions(paths: ExperimentPaths) -> Path | None:
    """Test a completed fold trial's best checkpoint on its held-out fold into
    ``testing/heldout/``; None (and nothing written) for an experiment that is not a fold trial.

    Returns:
        The condition's ``predictions.json``.
    """
    if trial_fold(paths) is None:
        return None
    from abyssexp.evaluation.evaluate import evaluate_experiment

    coco, image_dir = heldout_inputs(paths)
    result = evaluate_experiment(paths, coco, HELDOUT_CONDITION, image_dir=image_dir)
    logger.info("out-of-fold predictions written to %s", result.folder)
    return result.folder / "predictions.json"


def save_heldout_after_training(paths: ExperimentPaths) -> list[str]:
    """``save_heldout_predictions`` as training calls it once a run completed: a failure leaves
    the trained model completed and comes back as a warning that gives the command making the
    predictions by hand (the model is fine; only the file ``data label-issues`` reads is missing).
    """
    try:
        save_heldout_predictions(paths)
    except Exception as exc:  # noqa: BLE001 - any failure: the training itself succeeded
        logger.warning("out-of-fold predictions of %s not saved", paths.root, exc_info=True)
        return [
            f"out-of-fold predictions not saved ({type(exc).__name__}: {str(exc)[:120]}); "
            f"`abyssexp test {paths.root} --coco {paths.datasets / VAL_COCO} "
            f"--condition {HELDOUT_CONDITION}` makes them"
        ]
    return []
