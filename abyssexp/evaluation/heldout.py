"""A fold trial's out-of-fold predictions: ``testing/heldout/`` of every ``--folds`` trial.

Each trial of ``sweep new --folds K`` trains on K-1 folds and validates on the one it holds out,
so its predictions for that fold are out-of-fold: made by a model that never trained on those
images. Training saves them when a fold trial completes, as an ordinary test condition
(``abyssexp test TRIAL --coco <trial>/datasets/coco.val.json --condition heldout`` does the
same by hand), so ``data label-issues`` reads the K files and never loads TensorFlow itself.

The held-out fold also chose the trial's best checkpoint, so its metrics carry the overlap
caveat like any test on validation images; the per-image probabilities are what label-issue
finding needs, and they stay out-of-fold for training.
"""

from __future__ import annotations

import logging
from pathlib import Path

from abyssexp.errors import AbyssExpError
from abyssexp.experiment.layout import SWEEPS_DIR, VAL_COCO, ExperimentPaths
from abyssexp.experiment.record_file import read_record

logger = logging.getLogger(__name__)

#: The test condition holding a fold trial's out-of-fold predictions.
HELDOUT_CONDITION = "heldout"


def trial_fold(paths: ExperimentPaths) -> int | None:
    """The fold a sweep trial holds out, read from its sweep file; None for anything else
    (not a trial, a sweep without folds, a sweep file that cannot be read)."""
    from abyssexp.experiment.sweep_trials import load_sweep

    try:
        sweep_ref = read_record(paths.record).sweep
    except AbyssExpError:
        return None
    if not sweep_ref or sweep_ref.count("/") != 2:
        return None
    sweep_id = sweep_ref.rsplit("/", 1)[-1]
    path = paths.root.parent / SWEEPS_DIR / f"{sweep_id}.json"
    try:
        sweep = load_sweep(path) if path.is_file() else None
    except AbyssExpError:
        return None
    if sweep is None or not sweep.folds:
        return None
    return next((t.fold for t in sweep.trials if t.name == paths.name), None)


def heldout_inputs(paths: ExperimentPaths) -> tuple[Path, Path | None]:
    """The held-out fold's COCO file and its images folder, as the trial's params name them."""
    from abyssexp.datasets.split_datasets import resolve_split_path, split_image_dir
    from abyssexp.schemas.resolve import load_params_file, validate_params

    params = validate_params(load_params_file(paths.params), str(paths.params))
    val = resolve_split_path(params.dataset, "val", paths.root)
    return val, split_image_dir(params.dataset, "val", paths.root)


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
