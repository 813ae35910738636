"""Test images that the model has seen: the same file name or the same bytes as a training or
validation image of the experiment.

The same two checks as ``abyssexp data leaks`` (exact ``file_name``; SHA-256 of the file), made
cheap: a training or validation file is hashed only when its size equals a test image's, since
files of different sizes cannot have the same content.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from abyssexp.hashing import sha256_file


def hash_images(paths: Sequence[Path], workers: int = 8) -> list[str | None]:
    """SHA-256 of every file (None where it cannot be read), a few at a time."""

    def one(path: Path) -> str | None:
        try:
            return sha256_file(path)
        except OSError:
            return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, paths))


def _split_images(params: Any, root: Path, split: str) -> list[tuple[str, Path]]:
    """(file_name, path) of every image of the experiment's ``split`` file ([] if unreadable)."""
    from abyssexp.datasets.factory import resolve_split_path, split_image_dir
    from abyssexp.datasets.locate import find_image_dir, resolve_image_path
    from abyssexp.datasets.quick import load_coco_json
    from abyssexp.errors import AbyssExpError

    try:
        coco_path = resolve_split_path(params.dataset, split, root)
        images = load_coco_json(coco_path)["images"]
    except (AbyssExpError, OSError):
        return []
    folder = split_image_dir(params.dataset, split, root)
    if folder is None:
        folder = find_image_dir(coco_path, images).path
    return [(str(i["file_name"]), resolve_image_path(i, folder)) for i in images]


def _size(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def find_overlap(
    params: Any,
    root: Path,
    test_names: Sequence[str],
    test_paths: Sequence[Path],
    test_hashes: Sequence[str | None],
) -> dict[str, Any]:
    """How many test images share a file name or content with the experiment's training or
    validation images.

    Returns:
        ``{"images": N, "same_file_name": a, "same_content": b, "with": {"train": x,
        "val": y}, "examples": [up to 5 test file names]}``.
    """
    sizes = {_size(p) for p in test_paths} - {None}
    by_hash: dict[str, list[int]] = {}
    for index, digest in enumerate(test_hashes):
        if digest:
            by_hash.setdefault(digest, []).append(index)
    by_name: dict[str, list[int]] = {}
    for index, name in enumerate(test_names):
        by_name.setdefault(name, []).append(index)
    hit: set[int] = set()
    named: set[int] = set()
    content: set[int] = set()
    per_split: dict[str, int] = {}
    for split in ("train", "val"):
        images = _split_images(params, root, split)
        seen = {i for name, _ in images for i in by_name.get(name, [])}
        candidates = [path for _, path in images if _size(path) in sizes]
        same = {i for h in hash_images(candidates) for i in by_hash.get(h or "", [])}
        named |= seen
        content |= same
        per_split[split] = len(seen | same)
        hit |= seen | same
    return {
        "images": len(hit),
        "same_file_name": len(named),
        "same_content": len(content),
        "with": per_split,
        "examples": [test_names[i] for i in sorted(hit)[:5]],
    }
