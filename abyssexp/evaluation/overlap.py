"""Test images the model has seen: the same file or the same bytes as a training or validation
image of the experiment.

The same check ``new`` makes between training and validation (``datasets.leaks.check_split_leaks``:
the same file, or the same SHA-256 content, hashed only where sizes match; and near-duplicates by
the cached image hashes), here between the test file and the experiment's own training and
validation files. The hashes come from the scratch root's hash cache, so a second ``test`` of the
same files reads and decodes nothing. Equal ``file_name``s in different
folders with different content are not an overlap (CVAT numbers every subset's frames from 1).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from abyssexp.datasets.hash_cache import HashCache
    from abyssexp.schemas.params import Params


def _split_files(params: Params, root: Path, split: str) -> tuple[Path, Path] | None:
    """The experiment's ``split`` COCO file and its images folder (None: not there)."""
    from abyssexp.datasets.locate import find_image_dir
    from abyssexp.datasets.quick import load_coco_json
    from abyssexp.datasets.split_datasets import resolve_split_path, split_image_dir
    from abyssexp.errors import AbyssExpError

    try:
        coco = resolve_split_path(params.dataset, split, root)
        folder = split_image_dir(params.dataset, split, root)
        if folder is None:
            folder = find_image_dir(coco, load_coco_json(coco)["images"]).path
    except (AbyssExpError, OSError):
        return None
    return (coco, folder) if coco.is_file() else None


#: What ``find_overlap`` counts (``with`` is a keyword, hence the call form): test images that
#: are the same file or content as a training/validation image, per split, a few examples, the
#: near-duplicates (None: not looked for) and those left out of the metrics.
OverlapDetail = TypedDict(
    "OverlapDetail",
    {
        "images": int,
        "same_file": int,
        "same_content": int,
        "with": dict[str, int],
        "examples": list[str],
        "near": int | None,
        "near_examples": list[str],
        "not_evaluated": int,
    },
)


def find_overlap(
    params: Params,
    root: Path,
    test_coco: Path,
    test_folder: Path,
    near: bool = True,
    hashes: HashCache | None = None,
    evaluated: Collection[Any] | None = None,
) -> OverlapDetail:
    """How many images of ``test_coco`` are the same file, or have the same content, as one of
    the experiment's training or validation images, and (``near``) how many more are
    near-duplicates of one (the verdict ``data check`` and ``new`` give, on cached hashes).

    Args:
        evaluated: the ids of the test images the metrics count; overlap among the others (left
            out as unlabelled, say) is counted apart, so "N of M" never has N above M.

    Returns:
        An ``OverlapDetail``: ``with`` counts per split (``train``, ``val``), up to 5 test file
        names as examples and up to 2 "test ~ train" near pairs.
    """
    from abyssexp.datasets.leaks import check_split_leaks

    splits = {"test": (test_coco, test_folder)}
    for split in ("train", "val"):
        files = _split_files(params, root, split)
        if files:
            splits[split] = files
    leaks = check_split_leaks(splits, near=near, hashes=hashes)
    hit: dict[int, str] = {}
    kinds: dict[str, set[int]] = {"same file": set(), "same content": set()}
    per_split: dict[str, set[int]] = {"train": set(), "val": set()}
    left_out: set[int] = set()
    for test, other, kind in _test_sides(leaks.identical):
        if evaluated is not None and test["image_id"] not in evaluated:
            left_out.add(test["image_id"])
            continue
        hit[test["image_id"]] = test["file_name"]
        kinds.setdefault(kind, set()).add(test["image_id"])
        per_split[other["file"]].add(test["image_id"])
    near_hits = {
        test["image_id"]: f"{test['file_name']} ~ {other['file_name']}"
        for test, other, _ in _test_sides(leaks.near or [])
        if test["image_id"] not in hit and (evaluated is None or test["image_id"] in evaluated)
    }
    return {
        "images": len(hit),
        "same_file": len(kinds["same file"]),
        "same_content": len(kinds["same content"]),
        "with": {split: len(ids) for split, ids in per_split.items()},
        "examples": [hit[i] for i in sorted(hit)[:5]],
        "near": len(near_hits) if near else None,
        "near_examples": [near_hits[i] for i in sorted(near_hits)[:2]],
        "not_evaluated": len(left_out),
    }


def _test_sides(pairs: list[dict[str, Any]]) -> list[tuple[dict, dict, str]]:
    """(test side, other side, kind) of each pair between the test file and another split
    (training against validation is ``new``'s check)."""
    found = []
    for pair in pairs:
        sides = {pair["a"]["file"]: pair["a"], pair["b"]["file"]: pair["b"]}
        if "test" in sides and len(sides) == 2:
            test = sides.pop("test")
            found.append((test, next(iter(sides.values())), pair["kind"]))
    return found
