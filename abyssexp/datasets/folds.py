"""Stratified K-fold of a COCO file: fold ``k`` is the validation set, the other folds train.

Reads and writes JSON only (no pycocotools, no TensorFlow). Each image is assigned to a stratum
by its rarest category (images without a label form a stratum of their own), each stratum is
shuffled with the seed and dealt round-robin over the folds, the rotation carrying on from one
stratum to the next so the folds differ in size by at most one image. The same file, K and seed
always give the same folds.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from abyssexp.atomic import atomic_write_json
from abyssexp.config import check_outputs
from abyssexp.datasets.quick import load_coco_json
from abyssexp.errors import InvalidInputError
from abyssexp.jsonio import refuse_same_files


def assign_folds(coco: dict[str, Any], folds: int, seed: int) -> dict[int, int]:
    """``{image id: fold}`` for every image of ``coco``.

    Raises:
        InvalidInputError: fewer than 2 folds, or fewer images than folds.
    """
    images = sorted(image["id"] for image in coco["images"])
    if folds < 2:
        raise InvalidInputError(f"--folds: K-fold needs K >= 2. Received: {folds}")
    if len(images) < folds:
        raise InvalidInputError(
            f"--folds {folds}: the training file has only {len(images)} images; use fewer folds"
        )
    labels: dict[int, set[int]] = defaultdict(set)
    for annotation in coco["annotations"]:
        if annotation.get("category_id") is not None:
            labels[annotation["image_id"]].add(annotation["category_id"])
    frequency = Counter(category for cats in labels.values() for category in cats)
    strata: dict[Any, list[int]] = defaultdict(list)
    for image_id in images:
        cats = labels.get(image_id)
        key = min(cats, key=lambda c: (frequency[c], c)) if cats else None
        strata[key].append(image_id)
    rng = random.Random(seed)
    assignment: dict[int, int] = {}
    position = 0
    for key in sorted(strata, key=lambda k: (k is None, k if k is not None else 0)):
        members = strata[key]
        rng.shuffle(members)
        for image_id in members:
            assignment[image_id] = position % folds
            position += 1
    return assignment


def split_fold(coco: dict[str, Any], folds: int, fold: int, seed: int) -> tuple[dict, dict]:
    """(training part, validation part) of ``coco`` for one fold."""
    if not 0 <= fold < folds:
        raise InvalidInputError(f"--fold: expected 0..{folds - 1}. Received: {fold}")
    assignment = assign_folds(coco, folds, seed)
    held = {image_id for image_id, k in assignment.items() if k == fold}
    rest = {key: value for key, value in coco.items() if key not in ("images", "annotations")}

    def part(keep: bool) -> dict[str, Any]:
        return {
            **rest,
            "images": [im for im in coco["images"] if (im["id"] in held) == keep],
            "annotations": [a for a in coco["annotations"] if (a["image_id"] in held) == keep],
        }

    return part(False), part(True)


def write_fold(
    source: Path, folds: int, fold: int, seed: int, train_out: Path, val_out: Path
) -> tuple[int, int]:
    """Write fold ``fold`` of ``source`` as two COCO files; returns (train, val) image counts."""
    refuse_same_files(
        [("source", source), ("--train-out", train_out), ("--val-out", val_out)],
        InvalidInputError,
    )
    check_outputs([train_out, val_out])  # never through a symlinked folder of the scratch
    train, val = split_fold(load_coco_json(source), folds, fold, seed)
    atomic_write_json(train_out, train, indent=None)
    atomic_write_json(val_out, val, indent=None)
    return len(train["images"]), len(val["images"])
