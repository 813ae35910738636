"""``abyssexp data leaks``: images that appear in two splits.

Three kinds, cheapest first: the same ``file_name``; the same file content (sha256); with
``near``, near-duplicates by a 64-bit difference hash (dHash: the image at 9×8 grey pixels, one bit
per horizontal neighbour pair), within ``max_distance`` differing bits. Only ``near`` decodes
images (reduced with JPEG draft mode); nothing imports TensorFlow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
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
    entry: dict[str, Any] = {
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


def split_overlap(
    splits: Mapping[str, tuple[Path, Path]], workers: int = 8
) -> list[dict[str, Any]]:
    """Pairs of images in two splits that are the same file or have the same content.

    Cheap enough for every ``new``: one ``stat`` per image, and a sha256 only for the files whose
    size also occurs in another split (two files of different sizes cannot be the same). Equal
    ``file_name``s in different folders with different content (CVAT numbers every subset's
    frames from 1) are not a leak.

    Args:
        splits: per split, its COCO file and its images folder.
    """
    images = []
    for split, (coco, folder) in splits.items():
        data = quick_check_coco(coco)
        images += [
            SplitImage(split, i["id"], str(i["file_name"]), resolve_image_path(i, folder))
            for i in data["images"]
        ]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        sizes = dict(zip(map(id, images), pool.map(_size, images), strict=True))
        splits_of_size: dict[int, set[str]] = defaultdict(set)
        for image in images:
            size = sizes[id(image)]
            if size is not None:
                splits_of_size[size].add(image.split)
        candidates = [i for i in images if len(splits_of_size.get(sizes[id(i)] or -1, ())) > 1]
        digests = dict(zip(map(id, candidates), pool.map(_digest, candidates), strict=True))
    pairs = _pairs_by(images, lambda i: _real_path(i.path), "same file")
    seen = {(p["a"]["file"], p["a"]["image_id"], p["b"]["file"], p["b"]["image_id"]) for p in pairs}
    for pair in _pairs_by(candidates, lambda i: digests[id(i)], "same content"):
        key = (pair["a"]["file"], pair["a"]["image_id"], pair["b"]["file"], pair["b"]["image_id"])
        if key not in seen:
            pairs.append(pair)
    return pairs


def _size(image: SplitImage) -> int | None:
    try:
        return image.path.stat().st_size
    except OSError:
        return None


def _digest(image: SplitImage) -> str | None:
    try:
        return sha256_file(image.path)
    except OSError:
        return None


def _real_path(path: Path) -> str | None:
    try:
        return str(path.resolve(strict=True))
    except OSError:
        return None


def near_clusters(paths: Sequence[Path], max_distance: int, workers: int = 8) -> list[int]:
    """A cluster number per image: images whose difference hashes differ in at most
    ``max_distance`` bits are linked, and linked images (transitively) share a cluster. An
    image that does not decode is alone in its cluster.

    Costs one decode per image (JPEG draft mode) and n²/2 XORs done a row at a time in numpy.
    """
    with ThreadPoolExecutor(max_workers=workers) as pool:
        hashes = list(pool.map(dhash, paths))
    parent = list(range(len(paths)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    valid = [i for i, h in enumerate(hashes) if h is not None]
    values = np.array([hashes[i] for i in valid], dtype=np.uint64)
    for row, index in enumerate(valid[:-1]):
        later = values[row + 1 :] ^ values[row]
        distance = np.unpackbits(later.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        for offset in np.flatnonzero(distance <= max_distance):
            a, b = root(index), root(valid[row + 1 + int(offset)])
            if a != b:
                parent[b] = a
    return [root(i) for i in range(len(paths))]
