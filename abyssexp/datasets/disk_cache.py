"""The image cache on disk, as ``tf.data`` sees it: fill the missing entries, read them back.

``prepare_entries`` runs when a pipeline is built: it checks every entry (length, header, and the
fingerprint of its pixels, one ``tf.fingerprint`` op per chunk of entries), decodes and resizes the images
whose entry is missing or corrupt and writes those entries atomically, marks the entries as used
and evicts least-recently-used others above the size limit. ``read_entry`` is the map function:
``read_file`` + checks + ``decode_raw`` + reshape; an entry that fails its checks (evicted or
damaged since) is never used, the source file is decoded instead. Layout and keys:
``image_cache``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from abyssexp.atomic import atomic_write_bytes
from abyssexp.datasets import image_cache
from abyssexp.datasets.resize import resize_uint8
from abyssexp.owned import make_dirs

log = logging.getLogger(__name__)

Decode = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


@dataclass(frozen=True)
class CachedSet:
    """Where each image of a dataset is cached: entry paths and keys, in the dataset's order."""

    entries: list[str]
    keys: list[bytes]
    size: tuple[int, int]
    written: int  # entries decoded and written by this build


def _entry_ok(data: tf.Tensor, key: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Length, header and pixel fingerprint of one entry's bytes, in the graph. No ``tf.cond``:
    every slice is taken where it is valid whatever the length (the header from a copy padded
    to its full size, the pixels from at most the end), and the length is one of the checks;
    a branch would be traced twice at every pipeline build, a cost small datasets notice."""
    count = size[0] * size[1] * 3
    header = image_cache.HEADER_BYTES
    length = tf.strings.length(data)
    head = tf.strings.join([tf.strings.substr(data, 0, header), b"\0" * header])
    stored = tf.io.decode_raw(tf.strings.substr(head, image_cache.FINGERPRINT_OFFSET, 8), tf.uint8)
    pixels = tf.strings.substr(data, tf.minimum(length, header), count)
    computed = tf.fingerprint(tf.reshape(pixels, [1]))[0]
    return tf.reduce_all(
        tf.stack(
            [
                tf.equal(length, header + count),
                tf.equal(tf.strings.substr(head, 0, 24), image_cache.header_prefix(size)),
                tf.equal(tf.strings.substr(head, image_cache.KEY_OFFSET, 32), key),
                tf.reduce_all(tf.equal(stored, computed)),
            ]
        )
    )


def _read_bytes(entry: tf.Tensor, path: tf.Tensor) -> tf.Tensor:
    """The entry's bytes; the source file's bytes when the entry does not exist (evicted by
    another run meanwhile), which fail the entry's checks. Reading a file that exists instead
    of branching: a ``tf.cond`` is traced twice at every pipeline build."""
    exists = tf.size(tf.io.matching_files(entry)) > 0
    return tf.io.read_file(tf.where(exists, entry, path))


def read_entry(
    entry: tf.Tensor,
    key: tf.Tensor,
    path: tf.Tensor,
    kind: tf.Tensor | int,
    size: tuple[int, int],
    decode: Decode,
) -> tf.Tensor:
    """One cached image (uint8 H×W×3 of ``size``); the source, decoded, when the entry fails."""
    data = _read_bytes(entry, path)
    count = size[0] * size[1] * 3

    def cached() -> tf.Tensor:
        pixels = tf.io.decode_raw(
            tf.strings.substr(data, image_cache.HEADER_BYTES, count), tf.uint8
        )
        return tf.reshape(pixels, [size[0], size[1], 3])

    def decoded() -> tf.Tensor:
        # The rare path: one resize kernel for any source size (the same pixels as
        # ``resize_uint8``, which would trace a branch of its own on an unknown shape).
        resized = tf.image.resize(decode(path, kind), size)
        return tf.cast(tf.round(resized), tf.uint8)

    image = tf.cond(_entry_ok(data, key, size), cached, decoded)
    return tf.ensure_shape(image, [size[0], size[1], 3])


#: Entries whose fingerprints one TensorFlow op computes at a time (bounds the memory used).
_CHECK_CHUNK_BYTES = 64 << 20


def _entry_pixels(path: str, size: tuple[int, int], key: bytes) -> bytes | None:
    """An entry's bytes when its length, header and key are right (else None)."""
    try:
        with open(path, "rb") as handle:
            if (
                os.fstat(handle.fileno()).st_size
                != image_cache.HEADER_BYTES + size[0] * size[1] * 3
            ):
                return None
            data = handle.read()
    except OSError:
        return None
    header = data[: image_cache.HEADER_BYTES]
    if header[:24] != image_cache.header_prefix(size) or header[image_cache.KEY_OFFSET :] != key:
        return None
    return data


def _valid(entries: list[str], keys: list[bytes], size: tuple[int, int]) -> np.ndarray:
    """Whether each entry passes every check: length, header and key read here, the pixels'
    fingerprint computed by one ``tf.fingerprint`` per chunk of entries. No ``tf.data`` pass:
    building one cost more than checking a small dataset's entries."""
    valid = np.zeros(len(entries), dtype=bool)
    chunk: list[tuple[int, bytes]] = []
    held = 0

    def check() -> None:
        pixels = [data[image_cache.HEADER_BYTES :] for _, data in chunk]
        computed = tf.fingerprint(tf.constant(pixels)).numpy()
        for (index, data), fingerprint in zip(chunk, computed, strict=True):
            offset = image_cache.FINGERPRINT_OFFSET
            valid[index] = data[offset : offset + 8] == fingerprint.tobytes()
        chunk.clear()

    for index, (entry, key) in enumerate(zip(entries, keys, strict=True)):
        data = _entry_pixels(entry, size, key)
        if data is None:
            continue
        chunk.append((index, data))
        held += len(data)
        if held >= _CHECK_CHUNK_BYTES:
            check()
            held = 0
    if chunk:
        check()
    return valid


def _fill(
    missing: Sequence[int],
    set_: CachedSet,
    paths: Sequence[str],
    plan: np.ndarray,
    decode: Decode,
) -> None:
    """Decode, resize and write the entries of ``missing`` (atomically, writes overlapped)."""
    size = set_.size
    items = tf.data.Dataset.from_tensor_slices(
        ([paths[i] for i in missing], plan[list(missing)], list(missing))
    )
    decoded = items.map(
        lambda p, k, i: (resize_uint8(decode(p, k), size), i),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).prefetch(tf.data.AUTOTUNE)

    def write(index: int, pixels: bytes, fingerprint: bytes) -> None:
        data = image_cache.make_entry(pixels, size, set_.keys[index], fingerprint)
        atomic_write_bytes(set_.entries[index], data)

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = []
        for image, index in decoded:
            pixels = image.numpy().tobytes()
            fingerprint = tf.fingerprint(tf.constant([pixels]))[0].numpy().tobytes()
            futures.append(pool.submit(write, int(index), pixels, fingerprint))
        for future in futures:
            future.result()


def prepare_entries(
    paths: Sequence[str],
    plan: np.ndarray,
    size: tuple[int, int],
    root: Path,
    limit_bytes: int | None,
    decode: Decode,
) -> CachedSet:
    """Make sure every image of ``paths`` has a valid entry of ``size`` under ``root``."""
    keys = [image_cache.entry_key(p, size, int(k)) for p, k in zip(paths, plan, strict=True)]
    entries = [str(image_cache.entry_path(root, key)) for key in keys]
    missing = np.flatnonzero(~_valid(entries, keys, size)).tolist()
    cached = CachedSet(entries=entries, keys=keys, size=size, written=len(missing))
    if missing:
        for shard in {Path(entries[i]).parent for i in missing}:
            make_dirs(shard)  # never through a folder linked in meanwhile
        log.info("image cache: decoding %d of %d images into %s", len(missing), len(paths), root)
        _fill(missing, cached, paths, plan, decode)
    image_cache.mark_used(Path(e) for e in entries)
    if limit_bytes is not None:
        removed, freed = image_cache.evict(root, limit_bytes, keep=[Path(e) for e in entries])
        if removed:
            log.info("image cache: evicted %d entries (%d bytes)", removed, freed)
    return cached
