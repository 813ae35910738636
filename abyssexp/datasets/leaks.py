"""``abyssexp data leaks``: images that appear in two splits.

Three kinds, cheapest first: the same ``file_name``; the same file content (sha256); with
``near``, near-duplicates by a 64-bit difference hash (dHash: the image at 9×8 grey pixels, one bit
per horizontal neighbour pair), within ``max_distance`` differing bits. Only ``near`` decodes
images (reduced with JPEG draft mode); nothing imports TensorFlow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from abyssexp.datasets.locate import find_image_dir, resolve_image_path
from abyssexp.datasets.quick import quick_check_coco
from abyssexp.errors import InvalidInputError
from abyssexp.hashing import sha256_file
from abyssexp.jsonio import refuse_same_files


@dataclass(frozen=True)
class SplitImage:
    split: str
    image_id: int
    file_name: str
    path: Path


def _images(paths: Sequence[Path]) -> list[SplitImage]:
    found = []
    for path in paths:
        data = quick_check_coco(path)
        folder = find_image_dir(path, data["images"])
        found += [
            SplitImage(str(path), i["id"], str(i["file_name"]), resolve_image_path(i, folder.path))
            for i in data["images"]
        ]
    return found


def dhash(path: Path) -> int | None:
    """The 64-bit difference hash of an image, or None when it does not open."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.draft("L", (32, 32))
            grey = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BOX))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None  # unreadable, or a decompression bomb: counted as not decoded by the caller
    bits = (grey[:, 1:] > grey[:, :-1]).flatten()
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def _pairs_by(images: list[SplitImage], key: Any, kind: str) -> list[dict[str, Any]]:
    """Pairs of images in different splits that share ``key``."""
    by_key: dict[Any, list[SplitImage]] = defaultdict(list)
    for image in images:
        value = key(image)
        if value is not None:
            by_key[value].append(image)
    pairs = []
    for members in by_key.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if a.split != b.split:
                    pairs.append(_pair(kind, a, b))
    return pairs


def _pair(kind: str, a: SplitImage, b: SplitImage, distance: int | None = None) -> dict[str, Any]:
    entry = {
        "kind": kind,
        "a": {"file": a.split, "image_id": a.image_id, "file_name": a.file_name},
        "b": {"file": b.split, "image_id": b.image_id, "file_name": b.file_name},
    }
    if distance is not None:
        entry["distance"] = distance
    return entry


def find_leaks(
    paths: Sequence[Path], near: bool = False, max_distance: int = 4, workers: int = 8
) -> dict[str, Any]:
    """Every pair of images in two different files that are the same or nearly the same.

    Raises:
        InvalidInputError: a file given twice (``X X``, ``X ./X``): it would be compared with
            itself, and report nothing.
    """
    refuse_same_files([("file", Path(p)) for p in paths], InvalidInputError)
    images = _images(paths)
    leaks = _pairs_by(images, lambda i: i.file_name, "same file_name")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        digests = list(
            pool.map(lambda i: sha256_file(i.path) if i.path.is_file() else None, images)
        )
        content = dict(zip((id(i) for i in images), digests, strict=True))
        leaks += _pairs_by(images, lambda i: content[id(i)], "same content")
        undecoded: list[str] = []
        if near:
            hashes = list(pool.map(lambda i: dhash(i.path), images))
            leaks += _near_pairs(images, hashes, content, max_distance)
            undecoded = [
                f"{i.split}:{i.file_name}" for i, h in zip(images, hashes, strict=True) if h is None
            ]
    return {
        "undecoded": undecoded,
        "files": [str(p) for p in paths],
        "images": len(images),
        "leaks": leaks,
        "counts": {
            kind: sum(1 for leak in leaks if leak["kind"] == kind)
            for kind in ("same file_name", "same content", "near duplicate")
        },
    }


def _near_pairs(
    images: list[SplitImage], hashes: list[int | None], content: dict[int, Any], max_distance: int
) -> list[dict[str, Any]]:
    """Pairs in different files whose hashes differ in at most ``max_distance`` bits (and whose
    content differs: identical files are reported once, as "same content")."""
    valid = [(img, h) for img, h in zip(images, hashes, strict=True) if h is not None]
    if not valid:
        return []
    values = np.array([h for _, h in valid], dtype=np.uint64)
    splits = np.array([img.split for img, _ in valid])
    pairs = []
    for index, (image, value) in enumerate(valid):
        later = values[index + 1 :] ^ np.uint64(value)
        distance = np.unpackbits(later.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        close = np.flatnonzero((distance <= max_distance) & (splits[index + 1 :] != image.split))
        for offset in close:
            other = valid[index + 1 + offset][0]
            if content[id(image)] is not None and content[id(image)] == content[id(other)]:
                continue
            pairs.append(_pair("near duplicate", image, other, int(distance[offset])))
    return pairs
