"""``abyssexp data leaks``: images that appear in two splits.

Three kinds, cheapest first: the same ``file_name``; the same file content (sha256); with
``near``, near-duplicates by a 64-bit perceptual hash (``near_duplicates.py``: chosen by
measurement), within ``max_distance`` differing bits. Only ``near`` decodes images (reduced with
JPEG draft mode, and only those not in the hash cache); nothing imports TensorFlow.
"""

from __future__ import annotations

import os
import shlex
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from abyssexp.datasets.hash_cache import open_hash_cache
from abyssexp.datasets.locate import find_image_dir, resolve_image_path
from abyssexp.datasets.near_duplicates import NEAR_DISTANCE, near_duplicate_pairs
from abyssexp.datasets.quick import quick_check_coco
from abyssexp.errors import InvalidInputError, first_few, shorten
from abyssexp.hashing import sha256_file
from abyssexp.jsonio import refuse_same_files

if TYPE_CHECKING:
    from abyssexp.datasets.hash_cache import HashCache


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


class LeakReport(TypedDict):
    """What ``find_leaks`` found: the pairs (``leak_entry``), their count by kind, and the
    images that could not be decoded for the near-duplicate comparison."""

    undecoded: list[str]
    files: list[str]
    images: int
    leaks: list[dict[str, Any]]
    counts: dict[str, int]


def find_leaks(
    paths: Sequence[Path], near: bool = False, max_distance: int = NEAR_DISTANCE, workers: int = 8
) -> LeakReport:
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
            cache = open_hash_cache()
            pairs, missed = near_pairs(images, cache, max_distance)
            cache.save()
            leaks += pairs
            undecoded = [f"{i.split}:{i.file_name}" for i in missed]
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


def near_pairs(
    images: Sequence[SplitImage], hashes: HashCache, max_distance: int = NEAR_DISTANCE
) -> tuple[list[dict[str, Any]], list[SplitImage]]:
    """Pairs of near-duplicates (``near_duplicate_pairs``) in different splits whose content
    differs (identical files are reported as such, once), and the
    images that did not decode.
    """
    paths = [i.path for i in images]
    values = hashes.signatures(paths)
    digests = hashes.digests(paths)
    valid = [k for k, v in enumerate(values) if v is not None]
    pairs = []
    present = [value for value in values if value is not None]  # the valid ones, in order
    for a, b, distance in near_duplicate_pairs(present, max_distance):
        first, second = images[valid[a]], images[valid[b]]
        if first.split == second.split or digests[valid[a]] == digests[valid[b]]:
            continue
        pairs.append(_pair("near duplicate", first, second, distance))
    return pairs, [i for i, v in zip(images, values, strict=True) if v is None]


def split_overlap(
    splits: Mapping[str, tuple[Path, Path]], workers: int = 8, hashes: HashCache | None = None
) -> list[dict[str, Any]]:
    """Pairs of images in two splits that are the same file or have the same content.

    Cheap enough for every ``new``: one ``stat`` per image, and a sha256 only for the files whose
    size also occurs in another split (two files of different sizes cannot be the same). Equal
    ``file_name``s in different folders with different content (CVAT numbers every subset's
    frames from 1) are not a leak.

    Args:
        splits: per split, its COCO file and its images folder.
        hashes: where known digests are read (and new ones kept); None: computed here.
    """
    images = _split_images(splits)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        sizes = dict(zip(map(id, images), pool.map(_size, images), strict=True))
        splits_of_size: dict[int, set[str]] = defaultdict(set)
        for image in images:
            size = sizes[id(image)]
            if size is not None:
                splits_of_size[size].add(image.split)
        candidates = [i for i in images if len(splits_of_size.get(sizes[id(i)] or -1, ())) > 1]
        found = (
            hashes.digests([i.path for i in candidates], workers)
            if hashes is not None
            else list(pool.map(_digest, candidates))
        )
        digests = dict(zip(map(id, candidates), found, strict=True))
    pairs = _pairs_by(images, lambda i: _real_path(i.path), "same file")
    seen = {(p["a"]["file"], p["a"]["image_id"], p["b"]["file"], p["b"]["image_id"]) for p in pairs}
    for pair in _pairs_by(candidates, lambda i: digests[id(i)], "same content"):
        key = (pair["a"]["file"], pair["a"]["image_id"], pair["b"]["file"], pair["b"]["image_id"])
        if key not in seen:
            pairs.append(pair)
    return pairs


def _split_images(splits: Mapping[str, tuple[Path, Path]]) -> list[SplitImage]:
    images = []
    for split, (coco, folder) in splits.items():
        data = quick_check_coco(coco)
        images += [
            SplitImage(split, i["id"], str(i["file_name"]), resolve_image_path(i, folder))
            for i in data["images"]
        ]
    return images


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


def near_clusters(
    paths: Sequence[Path], max_distance: int = NEAR_DISTANCE, hashes: HashCache | None = None
) -> list[int]:
    """A cluster number per image: near-duplicates (``near_duplicate_pairs``) are linked, and linked images (transitively) share a cluster. An
    image that does not decode is alone in its cluster.

    Costs one decode per image not in the hash cache, and a multi-index search (not n²).
    """
    hashes = hashes or open_hash_cache()
    values = hashes.signatures(paths)
    hashes.save()
    parent = list(range(len(paths)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    valid = [i for i, h in enumerate(values) if h is not None]
    present = [value for value in values if value is not None]  # the valid ones, in order
    for a, b, _ in near_duplicate_pairs(present, max_distance):
        first, second = root(valid[a]), root(valid[b])
        if first != second:
            parent[second] = first
    return [root(i) for i in range(len(paths))]


#: How a split is named in the leak messages.
SPLIT_WORDS = {"train": "training", "val": "validation", "test": "test"}
#: The option that skips the near-duplicate check (``data check``, ``new``, ``test``).
NO_NEAR_CHECK = "--no-near-check"


@dataclass(frozen=True)
class SplitLeaks:
    """The leak verdict on the splits a command is given, the one ``data check``, ``new`` and
    ``test`` act on: identical images (same file or content) refuse, near-duplicates warn.

    Attributes:
        files: each split's COCO file, as the user named it.
        identical: pairs of the same file or the same content in two splits.
        near: near-duplicate pairs in two splits (None: not checked).
        undecoded: images the near-duplicate check could not decode.
    """

    files: dict[str, Path]
    identical: list[dict[str, Any]]
    near: list[dict[str, Any]] | None
    undecoded: int = 0

    def problems(self) -> list[str]:
        """One line per later split that shares identical images with an earlier one."""
        lines = []
        for first, second, pairs in self._by_split_pair(self.identical):
            kinds = {
                k: sum(1 for p in pairs if p["kind"] == k) for k in ("same file", "same content")
            }
            example = first_few(
                [f"{_whole(p['a']['file_name'])} = {_whole(p['b']['file_name'])}" for p in pairs],
                2,
                width=None,
            )
            lines.append(
                f"{self.files[second]}: {len(pairs)} {SPLIT_WORDS[second]} image(s) are also "
                f"{SPLIT_WORDS[first]} images ({kinds['same file']} same file, "
                f"{kinds['same content']} same content; {example}); a {SPLIT_WORDS[second]} "
                f"score on them measures memory, not skill; see them with "
                f"`{self._leaks_command(first, second)}`"
            )
        return lines

    def warnings(self) -> list[str]:
        """One line per later split with near-duplicates of an earlier one, with the fix."""
        lines = []
        for first, second, pairs in self._by_split_pair(self.near or []):
            named = [_later_first(p, second) for p in pairs]
            example = first_few([f"{_whole(a)} ~ {_whole(b)}" for a, b in named], 2, width=None)
            lines.append(
                f"{self.files[second]}: {len(pairs)} near-duplicate pair(s) of "
                f"{SPLIT_WORDS[second]} and {SPLIT_WORDS[first]} images ({example}); its score "
                f"flatters the model: split with `abyssexp data split --group-by near`, see them "
                f"with `{self._leaks_command(first, second)} --near` ({NO_NEAR_CHECK} skips this)"
            )
        return lines

    def _by_split_pair(
        self, pairs: list[dict[str, Any]]
    ) -> list[tuple[str, str, list[dict[str, Any]]]]:
        order = list(self.files)
        grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for pair in pairs:
            a, b = sorted((pair["a"]["file"], pair["b"]["file"]), key=order.index)
            grouped[a, b].append(pair)
        return [
            (a, b, grouped[a, b])
            for a, b in sorted(grouped, key=lambda k: (order.index(k[1]), order.index(k[0])))
        ]

    def _leaks_command(self, first: str, second: str) -> str:
        return shlex.join(
            [
                "abyssexp",
                "data",
                "leaks",
                str(self.files[first].absolute()),
                str(self.files[second].absolute()),
            ]
        )


#: A file name in a message is shown whole up to this many characters (a path's length on
#: Linux): the user must find the file; a longer one was not a real file's name.
_NAME_LIMIT = 4096


def _whole(name: str) -> str:
    """``name`` for a message: whole (never cut to fit a line), within ``_NAME_LIMIT``."""
    return name if len(name) <= _NAME_LIMIT else shorten(name, _NAME_LIMIT)


def _later_first(pair: dict[str, Any], split: str) -> tuple[str, str]:
    """The pair's file names, the one in ``split`` first."""
    a, b = pair["a"], pair["b"]
    return (
        (a["file_name"], b["file_name"]) if a["file"] == split else (b["file_name"], a["file_name"])
    )


#: Verdicts shared while ``verdicts_shared`` is active (one sweep's trials: same splits).
_SHARED: dict[tuple[Any, ...], SplitLeaks] | None = None


@contextmanager
def verdicts_shared() -> Iterator[None]:
    """Within the block, splits already judged (same files, same stat) get the same verdict
    without a second look: ``sweep new`` makes 100 trials of one dataset, and judging it 100
    times cost 8 of its 9 CPU seconds. Outside a block every call judges anew."""
    global _SHARED
    previous, _SHARED = _SHARED, {}
    try:
        yield
    finally:
        _SHARED = previous


def _verdict_key(splits: Mapping[str, tuple[Path, Path]], near: bool) -> tuple[Any, ...]:
    parts: list[Any] = [near]
    for split, (coco, folder) in splits.items():
        info = os.stat(coco)
        parts.append((split, str(coco), str(folder), info.st_size, info.st_mtime_ns, info.st_ino))
    return tuple(parts)


def check_split_leaks(
    splits: Mapping[str, tuple[Path, Path]],
    near: bool = True,
    hashes: HashCache | None = None,
) -> SplitLeaks:
    """The leak verdict on ``splits`` (per split: its COCO file and images folder; the first is
    the training split): identical images by ``split_overlap``, and near-duplicates by the
    cached perceptual hashes unless ``near`` is False.
    """
    if _SHARED is None:
        return _judge(splits, near, hashes)
    try:
        key = _verdict_key(splits, near)
    except OSError:
        return _judge(splits, near, hashes)
    if key not in _SHARED:
        _SHARED[key] = _judge(splits, near, hashes)
    return _SHARED[key]


def _judge(
    splits: Mapping[str, tuple[Path, Path]], near: bool, hashes: HashCache | None
) -> SplitLeaks:
    hashes = hashes or open_hash_cache()
    identical = split_overlap(splits, hashes=hashes)
    found = None
    undecoded: list[SplitImage] = []
    if near:
        found, undecoded = near_pairs(_split_images(splits), hashes)
        same = {_pair_key(p) for p in identical}
        found = [p for p in found if _pair_key(p) not in same]
    hashes.save()
    files = {split: coco for split, (coco, _) in splits.items()}
    return SplitLeaks(files, identical, found, len(undecoded))


def _pair_key(pair: dict[str, Any]) -> frozenset[tuple[str, int]]:
    return frozenset(
        ((pair["a"]["file"], pair["a"]["image_id"]), (pair["b"]["file"], pair["b"]["image_id"]))
    )
