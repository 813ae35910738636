"""A fold trial's held-out fold: which images it never trained on, and the test condition its
out-of-fold predictions are saved under (``testing/heldout/``, by ``training.heldout``).

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

from pathlib import Path

from abyssexp.errors import AbyssExpError
from abyssexp.experiment.layout import SWEEPS_DIR, ExperimentPaths
from abyssexp.experiment.record_file import read_record

#: The test condition holding a fold trial's out-of-fold predictions.
HELDOUT_CONDITION = "heldout"


def trial_fold(paths: ExperimentPaths) -> int | None:
    """The fold a sweep trial holds out, read from its sweep file; None for anything else
    (not a trial, a sweep without folds, a sweep file that cannot be read)."""
    from abyssexp.sweeps.trials import load_sweep

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
