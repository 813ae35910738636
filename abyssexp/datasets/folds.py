"""Stratified K-fold of a COCO file: fold ``k`` is the validation set, the other folds train.

No pycocotools, no TensorFlow. Images with the same content (the same bytes under other names,
as annotation tools export them) are one unit, never split across folds: ``new`` refuses a trial
whose validation images are also training images. Each unit is assigned to a stratum by its
rarest category (units without a label form a stratum of their own), each stratum is shuffled
with the seed and dealt round-robin over the folds, the rotation carrying on from one stratum to
the next, so folds of single images differ in size by at most one (a unit of several images is
dealt whole). The same file, images, K and seed always give the same folds; a file without
duplicates gives the folds it gave before units existed.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from abyssexp.atomic import atomic_write_json
from abyssexp.config import check_outputs
from abyssexp.datasets.quick import load_coco_json
from abyssexp.errors import InvalidInputError
from abyssexp.jsonio import refuse_same_files


def assign_folds(
    coco: dict[str, Any], folds: int, seed: int, groups: Mapping[int, str] | None = None
) -> dict[int, int]:
    """``{image id: fold}`` for every image of ``coco``; images of one ``groups`` key (e.g. the
    same content: ``content_groups``) go to one fold.

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
    units: dict[Any, list[int]] = defaultdict(list)  # in order of each unit's first image
    for image_id in images:
        units[groups.get(image_id, image_id) if groups else image_id].append(image_id)
    frequency = Counter(category for cats in labels.values() for category in cats)
    strata: dict[Any, list[list[int]]] = defaultdict(list)
    for members in units.values():
        cats = set().union(*(labels.get(i, set()) for i in members))
        key = min(cats, key=lambda c: (frequency[c], c)) if cats else None
        strata[key].append(members)
    rng = random.Random(seed)
    assignment: dict[int, int] = {}
    sizes = [0] * folds  # images dealt to each fold so far
    turn = 0  # the fold whose turn it is: dealing single images is plain round-robin
    for key in sorted(strata, key=lambda k: (k is None, k if k is not None else 0)):
        stratum = strata[key]
        rng.shuffle(stratum)
        stratum.sort(key=len, reverse=True)  # stable: single images keep the shuffled order
        for members in stratum:
            # The emptiest fold, from the one whose turn it is: a large group goes where it
            # evens the folds out (folds of bursts were 64 to 619 images dealt in turn).
            fold = min(range(folds), key=lambda f: (sizes[f], (f - turn) % folds))
            for image_id in members:
                assignment[image_id] = fold
            sizes[fold] += len(members)
            turn = (fold + 1) % folds
    return assignment


def content_groups(
    coco: dict[str, Any], image_dir: Path, scratch: Path | None = None
) -> dict[int, str]:
    """``{image id: SHA-256}`` of every image whose file is found (the hash cache of
    ``scratch`` reads each file once); an image not found is left out (its own unit)."""
    from abyssexp.datasets.hash_cache import open_hash_cache
    from abyssexp.datasets.locate import locate_image

    ids, paths = [], []
    for image in coco["images"]:
        path, found = locate_image(image, str(image_dir))
        if found:
            ids.append(image["id"])
            paths.append(Path(path))
    hashes = open_hash_cache(scratch)
    digests = hashes.digests(paths)
    hashes.save()
    return {i: d for i, d in zip(ids, digests, strict=True) if d is not None}


def fold_groups(
    coco: dict[str, Any], image_dir: Path, group_by: str | None = None
) -> dict[int, str]:
    """The units ``assign_folds`` deals: images of one content always; with ``group_by`` also
    near-duplicates (``near``: the rule of ``data leaks --near``, linked) or an image field or a
    regex over ``file_name`` (``data split --group-by``'s), joined with the content groups (a
    unit that shares an image's content with another is one unit with it).

    Raises:
        InvalidInputError: a ``group_by`` regex that ``data split`` refuses too.
    """
    content = content_groups(coco, image_dir)
    if group_by is None:
        return content
    from abyssexp.datasets.tools import near_groups, regex_groups

    if group_by == "near":
        chosen = near_groups(coco, image_dir)
    else:
        chosen = regex_groups(coco, group_by)[0]
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.get(key, key) != key:
            key = parent[key]
        return key

    for image_id, key in chosen.items():
        if image_id in content:
            a, b = root(f"g:{key}"), root(f"c:{content[image_id]}")
            if a != b:
                parent[b] = a
    return {image_id: root(f"g:{key}") for image_id, key in chosen.items()}


def split_fold(
    coco: dict[str, Any],
    folds: int,
    fold: int,
    seed: int,
    groups: Mapping[int, str] | None = None,
) -> tuple[dict, dict]:
    """(training part, validation part) of ``coco`` for one fold (``groups``: ``assign_folds``)."""
    if not 0 <= fold < folds:
        raise InvalidInputError(f"--fold: expected 0..{folds - 1}. Received: {fold}")
    assignment = assign_folds(coco, folds, seed, groups)
    held = {image_id for image_id, k in assignment.items() if k == fold}
    rest = {key: value for key, value in coco.items() if key not in ("images", "annotations")}

    def part(keep: bool) -> dict[str, Any]:
        return {
            **rest,
            "images": [im for im in coco["images"] if (im["id"] in held) == keep],
            "annotations": [a for a in coco["annotations"] if (a["image_id"] in held) == keep],
        }

    return part(False), part(True)


def source_fold_groups(
    source: Path, image_dir: Path | None = None, group_by: str | None = None
) -> dict[int, str]:
    """``fold_groups`` of the COCO file ``source``: made once, then given to ``write_fold`` for
    each of its folds (hashing every image, and with ``near`` comparing them, is the cost)."""
    from abyssexp.datasets.locate import find_image_dir

    coco = load_coco_json(source)
    return fold_groups(coco, find_image_dir(source, coco["images"], image_dir).path, group_by)


def write_fold(
    source: Path,
    folds: int,
    fold: int,
    seed: int,
    train_out: Path,
    val_out: Path,
    image_dir: Path | None = None,
    group_by: str | None = None,
    groups: Mapping[int, str] | None = None,
) -> tuple[int, int]:
    """Write fold ``fold`` of ``source`` as two COCO files, images of the same content kept in
    one fold (``image_dir``: where the images are; default: found as every command finds them;
    ``group_by``: also keep these groups whole, ``fold_groups``; ``groups``: those units when
    the caller made them already, as ``source_fold_groups`` does once for every fold of a
    sweep); returns (train, val) image counts."""
    from abyssexp.datasets.locate import find_image_dir

    refuse_same_files(
        [("source", source), ("--train-out", train_out), ("--val-out", val_out)],
        InvalidInputError,
    )
    check_outputs([train_out, val_out])  # never through a symlinked folder of the scratch
    coco = load_coco_json(source)
    if groups is None:
        groups = fold_groups(coco, find_image_dir(source, coco["images"], image_dir).path, group_by)
    train, val = split_fold(coco, folds, fold, seed, groups)
    atomic_write_json(train_out, train, indent=None)
    atomic_write_json(val_out, val, indent=None)
    return len(train["images"]), len(val["images"])
