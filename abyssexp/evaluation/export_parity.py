"""``promote --export`` and ``abyssexp export``: an experiment's (or a promoted model's) exports,
checked for parity on images of its own test set.

Exports of an experiment go to ``<experiment>/exports/<checkpoint>/``; ``promote --export``
makes them first and hands the folder to the store, which carries it under ``export/`` (so the
manifest and ``verify`` cover them). A promoted folder is read-only: exporting one writes to
``--out``. Each export is written under a temporary name and renamed into place when complete
and checked. Which model a source names (a file, a promoted folder or URL, an alias, an
experiment) is ``store.sources``'s to say.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from abyssexp.debris import owner_tag, remove_stale
from abyssexp.errors import StoreError
from abyssexp.experiment.layout import PREDICTIONS_FILE, ExperimentPaths
from abyssexp.experiment.promoted import EXPORT_MANIFEST
from abyssexp.owned import rmtree_inside
from abyssexp.schemas.export_manifest import load_export_manifest
from abyssexp.schemas.results import load_predictions

if TYPE_CHECKING:
    from abyssexp.models.export import ExportReport

PARITY_IMAGES = 16


def export_checkpoint(
    checkpoint: Path,
    out_dir: Path,
    formats: list[str],
    testing: Path | None,
    tolerance: float | None = None,
) -> ExportReport:
    """Export ``checkpoint`` into ``out_dir`` (which must not exist), checked on test images.

    Returns:
        The export report (also in ``out_dir/export.json``).
    """
    from abyssexp.models.export import DEFAULT_TOLERANCE, export_model

    if os.path.lexists(out_dir):
        raise StoreError(f"{out_dir}: exists already; exports are never overwritten")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{out_dir.name}.tmp-"
    remove_stale(out_dir.parent, prefix, out_dir.parent)  # a killed export's temporary (debris.py)
    temporary = out_dir.with_name(f"{prefix}{owner_tag()}.{uuid.uuid4().hex[:8]}")
    try:
        report = export_model(
            checkpoint,
            temporary,
            formats,
            lambda size: parity_sample(size, testing),
            tolerance or DEFAULT_TOLERANCE,
        )
        os.rename(temporary, out_dir)
    finally:
        if os.path.lexists(temporary):
            rmtree_inside(temporary, out_dir.parent)
    return report


def export_experiment(
    paths: ExperimentPaths, checkpoint: Path, formats: list[str], tolerance: float | None = None
) -> Path:
    """``exports/<checkpoint name>/`` of an experiment, made when missing; returns the folder.

    Raises:
        StoreError: it exists without one of ``formats``, or an export fails its parity check.
    """
    folder = paths.exports / checkpoint.stem
    manifest = folder / EXPORT_MANIFEST
    if folder.is_dir() and manifest.is_file():
        loaded = load_export_manifest(manifest)
        done = set(loaded.get("formats", {})) if loaded else set()
        missing = sorted(set(formats) - done)
        if missing:
            raise StoreError(
                f"{folder}: exported before without {', '.join(missing)}; move that folder "
                "aside to export again"
            )
        return folder
    export_checkpoint(checkpoint, folder, formats, paths.testing, tolerance)
    return folder


def parity_sample(size: tuple[int, int], testing: Path | None) -> np.ndarray:
    """Up to ``PARITY_IMAGES`` test images at the model's input ``size`` (float32 0-255);
    fixed random images when no test image can be read."""
    height, width = size
    images = [_read_resized(path, (height, width)) for path in _test_image_paths(testing)][
        :PARITY_IMAGES
    ]
    if images:
        return np.stack(images).astype(np.float32)
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (PARITY_IMAGES, height, width, 3)).astype(np.float32)


def _test_image_paths(testing: Path | None) -> list[Path]:
    if testing is None or not testing.is_dir():
        return []
    found: list[Path] = []
    for predictions in sorted(testing.glob(f"*/{PREDICTIONS_FILE}")):
        rows = load_predictions(predictions) or []
        found += [Path(r["file"]) for r in rows if "file" in r]
        if len(found) >= PARITY_IMAGES * 2:
            break
    return [p for p in found if p.is_file()][: PARITY_IMAGES * 2]


def _read_resized(path: Path, size: tuple[int, int]) -> np.ndarray:
    import tensorflow as tf

    from abyssexp.datasets.images import read_image
    from abyssexp.datasets.resize import resize_uint8

    return resize_uint8(tf.constant(read_image(path)), size).numpy()
