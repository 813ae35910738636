"""Test images the model has seen: the same file or the same bytes as a training or validation
image of the experiment.

The same check ``new`` makes between training and validation (``datasets.leaks.split_overlap``:
the same file, or the same SHA-256 content, hashed only where sizes match), here between the test
file and the experiment's own training and validation files. Equal ``file_name``s in different
folders with different content are not an overlap (CVAT numbers every subset's frames from 1).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abyssexp.hashing import sha256_file

if TYPE_CHECKING:
    from abyssexp.schemas.params import Params


def hash_images(paths: Sequence[Path], workers: int = 8) -> list[str | None]:
    """SHA-256 of every file (None where it cannot be read), a few at a time."""

    def one(path: Path) -> str | None:
        try:
            return sha256_file(path)
        except OSError:
            return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, paths))


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


def find_overlap(
    params: Params,
    root: Path,
    test_coco: Path,
    test_folder: Path,
    evaluated: Collection[Any] | None = None,
) -> dict[str, Any]:
    """How many images of ``test_coco`` are the same file, or have the same content, as one of
    the experiment's training or validation images.

    Args:
        evaluated: the ids of the test images the metrics count; overlap among the others (left
            out as unlabelled, say) is counted apart, so "N of M" never has N above M.

    Returns:
        ``{"images": N, "same_file": a, "same_content": b, "with": {"train": x, "val": y},
        "examples": [up to 5 test file names], "not_evaluated": k}``.
    """
    from abyssexp.datasets.leaks import split_overlap

    splits = {"test": (test_coco, test_folder)}
    for split in ("train", "val"):
        files = _split_files(params, root, split)
        if files:
            splits[split] = files
    hit: dict[int, str] = {}
    kinds: dict[str, set[int]] = {"same file": set(), "same content": set()}
    per_split: dict[str, set[int]] = {"train": set(), "val": set()}
    left_out: set[int] = set()
    for pair in split_overlap(splits):
        sides = {pair["a"]["file"]: pair["a"], pair["b"]["file"]: pair["b"]}
        if "test" not in sides or len(sides) < 2:
            continue  # training against validation: `new` checks that
        test = sides.pop("test")
        if evaluated is not None and test["image_id"] not in evaluated:
            left_out.add(test["image_id"])
            continue
        hit[test["image_id"]] = test["file_name"]
        kinds.setdefault(pair["kind"], set()).add(test["image_id"])
        per_split[next(iter(sides))].add(test["image_id"])
    return {
        "images": len(hit),
        "same_file": len(kinds["same file"]),
        "same_content": len(kinds["same content"]),
        "with": {split: len(ids) for split, ids in per_split.items()},
        "examples": [hit[i] for i in sorted(hit)[:5]],
        "not_evaluated": len(left_out),
    }
