"""``promote --export`` and ``abyssexp export``: an experiment's (or a promoted model's) exports,
checked for parity on images of its own test set.

Exports of an experiment go to ``<experiment>/exports/<checkpoint>/`` and travel with its
promotion (so the store's manifest and ``verify`` cover them). A promoted folder is read-only:
exporting one writes to ``--out``. Each export is written under a temporary name and renamed
into place when complete and checked.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from abyssexp.config import StoreURL, parse_store
from abyssexp.debris import owner_tag, remove_stale
from abyssexp.errors import InvalidInputError, StoreError
from abyssexp.experiment.layout import PREDICTIONS_FILE, TESTING_DIR, ExperimentPaths
from abyssexp.owned import rmtree_inside

PARITY_IMAGES = 16


def export_checkpoint(
    checkpoint: Path,
    out_dir: Path,
    formats: list[str],
    testing: Path | None,
    tolerance: float | None = None,
) -> dict[str, Any]:
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
    return report.to_json()


def export_experiment(
    paths: ExperimentPaths, checkpoint: Path, formats: list[str], tolerance: float | None = None
) -> Path:
    """``exports/<checkpoint name>/`` of an experiment, made when missing; returns the folder.

    Raises:
        StoreError: it exists without one of ``formats``, or an export fails its parity check.
    """
    folder = paths.exports / checkpoint.stem
    manifest = folder / "export.json"
    if folder.is_dir() and manifest.is_file():
        done = set(json.loads(manifest.read_text()).get("formats", {}))
        missing = sorted(set(formats) - done)
        if missing:
            raise StoreError(
                f"{folder}: exported before without {', '.join(missing)}; move that folder "
                "aside to export again"
            )
        return folder
    export_checkpoint(checkpoint, folder, formats, paths.testing, tolerance)
    return folder


def export_parity(folder: Path | None) -> dict[str, Any]:
    """Each format's parity as measured when ``folder`` was exported (its ``export.json``):
    ``{format: {max_abs_difference, top1_agreement, bytes, ...}}``; empty when none."""
    if folder is None:
        return {}
    try:
        return dict(json.loads((folder / "export.json").read_text()).get("formats", {}))
    except (OSError, ValueError, AttributeError):
        return {}


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
        try:
            rows = json.loads(predictions.read_text())
        except (OSError, ValueError):
            continue
        found += [Path(r["file"]) for r in rows if isinstance(r, dict) and "file" in r]
        if len(found) >= PARITY_IMAGES * 2:
            break
    return [p for p in found if p.is_file()][: PARITY_IMAGES * 2]


def _read_resized(path: Path, size: tuple[int, int]) -> np.ndarray:
    import tensorflow as tf

    from abyssexp.augmentation.resize import resize_uint8
    from abyssexp.datasets.images import read_image

    return resize_uint8(tf.constant(read_image(path)), size).numpy()


def resolve_export_source(
    source: str, scratch: Path, store: Path | StoreURL
) -> tuple[Path, Path | None]:
    """A ``.keras`` file, a promoted folder, a promoted model's URL (``s3://...``),
    ``PROJECT/TYPE@ALIAS`` or an experiment REF → (checkpoint, the folder holding its
    ``testing/``, if any). Class names and thresholds lie beside the checkpoint's folder:
    ``class_names.json`` (promoted) or ``models/`` (scratch). A model in an object store is
    downloaded into the local cache first (``store.cache``), checked against its manifest."""
    target: Path | StoreURL | None = None
    if "://" in source:
        target = parse_store(source, "model")
    elif "@" in source and not Path(source).exists():
        from abyssexp.store.registry import resolve_alias

        target = resolve_alias(store, source)
    if isinstance(target, StoreURL):
        from abyssexp.store.cache import cached_model

        target = cached_model(target)
    path = Path(source) if target is None else target
    if path.is_file() and path.suffix == ".keras":
        return path, None
    if path.is_dir() and (path / "entry.json").is_file():
        models = sorted(path.glob("model.keras"))
        if not models:
            raise InvalidInputError(f"{path}: a promoted folder without model.keras")
        return models[0], path / TESTING_DIR
    from abyssexp.experiment.checkpoints import resolve_checkpoint
    from abyssexp.experiment.refs import resolve_ref

    paths = resolve_ref(source, scratch)
    return resolve_checkpoint(paths, "best"), paths.testing
