"""The preprocessed image cache shared across experiments: layout, keys, entries, size limit.

``<scratch>/.cache/images/<ab>/<key>.u8`` holds one decoded, resized image as raw uint8 pixels
after a 64-byte header, so an entry is the raw pixels plus 64 bytes (299×299: 1.0002×) and
``tf.data`` reads it with ``read_file`` + ``decode_raw`` + reshape, no Python in the loop.

The key is the SHA-256 of (format version, the file's real path, size, mtime in nanoseconds,
the stored height and width, the decode kind): a ``stat`` per image, where hashing the file's
bytes would read every 4000×3000 photo (several MB) at each start, a large share of what
decoding costs. A file rewritten in place changes its size or mtime, so it gets a new key; the
old entry ages out by the size limit. A copy of a dataset elsewhere is cached again, once.

Header (little-endian): ``ABXIMG1\\0``, height, width, channels (uint32), 4 zero bytes, the
FarmHash64 fingerprint of the pixels (8 bytes, ``tf.fingerprint``), the key's 32 digest bytes.
A reader checks length, header and fingerprint, and decodes the source file instead of using an
entry that fails (truncated, wrong shape, other key, flipped bits); the next pipeline build
rewrites it. Entries are written atomically (``atomic.py``), so two trainings filling the cache
at once each write whole files, and identical ones.

Least-recently-used eviction: a pipeline build marks the entries it uses (their mtime), then
removes the oldest others until the cache fits its limit. No TensorFlow here: ``abyssexp cache``
uses this module alone.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from abyssexp.owned import check_tree, rmtree_inside, unlink_inside

CACHE_FOLDER = Path(".cache") / "images"
ENTRY_SUFFIX = ".u8"
FORMAT_VERSION = 1
MAGIC = b"ABXIMG1\0"
HEADER_BYTES = 64
FINGERPRINT_OFFSET = 24
KEY_OFFSET = 32
#: Default size limit of the cache, in GB (10⁹ bytes).
DEFAULT_LIMIT_GB = 50.0


def cache_dir(scratch: Path) -> Path:
    """The image cache folder under a scratch root."""
    return Path(scratch) / CACHE_FOLDER


class CacheSettings(TypedDict, total=False):
    """The ``PipelineSpec`` fields of the disk cache; empty when there is none."""

    disk_cache: Path
    disk_cache_limit: int


def pipeline_settings(scratch: Path, cache: str, limit_gb: float) -> CacheSettings:
    """``PipelineSpec`` fields for the ``training.cache`` param (``disk``: this scratch root's
    image cache, bounded by ``training.cache_limit_gb``; anything else: none).

    Raises:
        OutsideOwnedFolderError: the cache folder, or a folder in it, is a symlink.
    """
    if cache != "disk":
        return {}
    folder = cache_dir(scratch)
    # Refused here, before a shard folder is made: a linked .cache (or a linked shard inside it)
    # would have the cache's writes land wherever the link points.
    check_tree(folder, verb="cache images in")
    return {"disk_cache": folder, "disk_cache_limit": int(limit_gb * 1e9)}


def entry_key(path: Path | str, size: tuple[int, int], kind: int) -> bytes:
    """The 32-byte key of one source file decoded with ``kind`` and resized to ``size``."""
    real = os.path.realpath(path)
    info = os.stat(real)
    text = (
        f"{FORMAT_VERSION}\0{real}\0{info.st_size}\0{info.st_mtime_ns}\0{size[0]}x{size[1]}\0{kind}"
    )
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


def entry_path(root: Path, key: bytes) -> Path:
    name = key.hex()
    return root / name[:2] / (name + ENTRY_SUFFIX)


def header_prefix(size: tuple[int, int]) -> bytes:
    """The first 24 header bytes, the same for every entry of one stored size."""
    return MAGIC + struct.pack("<IIII", size[0], size[1], 3, 0)


def make_entry(pixels: bytes, size: tuple[int, int], key: bytes, fingerprint: bytes) -> bytes:
    """Header + pixels of one entry (``fingerprint``: the 8 bytes ``tf.fingerprint`` gives)."""
    if len(pixels) != size[0] * size[1] * 3 or len(fingerprint) != 8 or len(key) != 32:
        raise ValueError(
            f"cache entry: expected {size[0] * size[1] * 3} pixel bytes, an 8-byte fingerprint "
            f"and a 32-byte key. Received: {len(pixels)}, {len(fingerprint)}, {len(key)}"
        )
    return header_prefix(size) + fingerprint + key + pixels


def header_matches(path: Path, size: tuple[int, int], key: bytes) -> bool:
    """Whether an entry exists with the right length and header (the fingerprint of its pixels
    is checked where they are read)."""
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size != HEADER_BYTES + size[0] * size[1] * 3:
                return False
            header = handle.read(HEADER_BYTES)
    except OSError:
        return False
    return header[:FINGERPRINT_OFFSET] == header_prefix(size) and header[KEY_OFFSET:] == key


def mark_used(paths: Iterable[Path]) -> None:
    """Record that entries were just used (their mtime is the least-recently-used clock)."""
    for path in paths:
        try:
            os.utime(path)
        except OSError:
            pass  # evicted by another run meanwhile: the reader decodes the source instead


@dataclass(frozen=True)
class CacheInfo:
    """What ``abyssexp cache info`` shows."""

    folder: Path
    entries: int
    bytes: int
    limit_bytes: int | None = None


def _entries(root: Path) -> list[tuple[float, int, Path]]:
    """(mtime, size, path) of every file in the cache, temporaries of killed writers included."""
    found: list[Any] = []
    if not root.is_dir() or root.is_symlink():
        return found
    for shard in os.scandir(root):
        if not shard.is_dir(follow_symlinks=False):
            continue
        for item in os.scandir(shard.path):
            if item.is_file(follow_symlinks=False):
                try:
                    info = item.stat(follow_symlinks=False)
                except OSError:
                    continue
                found.append((info.st_mtime, info.st_size, Path(item.path)))
    return found


def cache_info(root: Path) -> CacheInfo:
    entries = _entries(root)
    return CacheInfo(folder=root, entries=len(entries), bytes=sum(s for _, s, _ in entries))


def evict(root: Path, limit_bytes: int, keep: Sequence[Path] = ()) -> tuple[int, int]:
    """Remove least-recently-used entries (never those in ``keep``) until the cache holds at
    most ``limit_bytes``; returns (entries removed, bytes freed). Safe when another process
    evicts at the same time: a file already gone counts as nothing."""
    entries = _entries(root)
    total = sum(size for _, size, _ in entries)
    protected = {str(p) for p in keep}
    removed = freed = 0
    for _, size, path in sorted(entries):
        if total <= limit_bytes:
            break
        if str(path) in protected:
            continue
        gone = unlink_inside(path, root)
        total -= size
        removed, freed = removed + 1, freed + gone
    return removed, freed


def clear_cache(root: Path) -> CacheInfo:
    """Delete every entry (through ``owned.py``: only inside the cache folder, never through a
    symlink); returns what was there."""
    before = cache_info(root)
    if root.is_symlink():
        unlink_inside(root, root.parent)
        return before
    if root.is_dir():
        for shard in os.scandir(root):
            path = Path(shard.path)
            if shard.is_dir(follow_symlinks=False):
                rmtree_inside(path, root)
            else:
                unlink_inside(path, root)
    return before
