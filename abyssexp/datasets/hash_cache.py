"""Image hashes cached by file, beside the image cache: ``<scratch>/.cache/hashes.json``.

Each entry is keyed by a stat fingerprint (the file's real path, size and mtime in nanoseconds,
as the image cache keys its entries) and holds the file's SHA-256 and its image hashes
(``near_duplicates.image_signature``). A second check of the same files reads one JSON file and
stats each image: no bytes read, nothing decoded. A file whose stat changed is hashed again
(SHA-256 first: when that content is already known under another name or place, its perceptual
hashes are reused and nothing is decoded either).

The file is a claim: read through ``schemas/hash_cache.py`` and bounded (entries, bytes), rebuilt
when it does not validate; written atomically. Two processes updating it at once each write a
whole file; the entries one of them added are computed again next time, nothing worse.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import ValidationError

from abyssexp.atomic import atomic_write_bytes
from abyssexp.datasets.near_duplicates import HASH_KIND, Signature, image_signature
from abyssexp.hashing import sha256_file
from abyssexp.schemas.hash_cache import (
    HASH_CACHE_ADAPTER,
    HASH_CACHE_VERSION,
    MAX_BYTES,
    MAX_ENTRIES,
)
from abyssexp.worker_pool import map_in_processes, pool_pays, usable_cores

log = logging.getLogger(__name__)

HASH_CACHE_FILE = Path(".cache") / "hashes.json"
#: A hit refreshes its "last used" stamp (and so rewrites the file) at most this often.
TOUCH_AFTER_S = 24 * 3600
_UNDECODED = ""
#: Images to hash from which processes pay (forked workers; ``worker_pool.pool_pays``): 256
#: 64-px images took 0.14 s in two processes against 0.24 s in one loop.
SIGNATURE_POOL_FROM = 256


def _compute_signatures(paths: list[Path], workers: int) -> list[Signature | None]:
    """``image_signature`` of each path: in one loop, or one process per core from
    ``SIGNATURE_POOL_FROM`` images (never threads: the hashes hold the GIL, and threads made
    them slower than the loop; docs/performance.md)."""
    workers = min(workers, usable_cores())
    if workers < 2 or not pool_pays(len(paths), SIGNATURE_POOL_FROM):
        return [image_signature(path) for path in paths]
    chunk = max(16, min(256, len(paths) // (workers * 8)))
    return list(map_in_processes(image_signature, [os.fspath(p) for p in paths], workers, chunk))


def hash_cache_path(scratch: Path) -> Path:
    """The hash cache file under a scratch root (beside the image cache)."""
    return Path(scratch) / HASH_CACHE_FILE


def open_hash_cache(scratch: Path | None = None) -> HashCache:
    """The hash cache of ``scratch`` (default: the configured scratch root); an in-memory one,
    kept by nobody, when no scratch root can be resolved or it is not a folder yet (checking
    data never creates a scratch root)."""
    from abyssexp.config import resolve_roots
    from abyssexp.errors import AbyssExpError

    try:
        root = Path(scratch) if scratch is not None else Path(str(resolve_roots().scratch.path))
    except (AbyssExpError, OSError, TypeError) as exc:
        log.info("hash cache kept in memory only: %s", exc)
        return HashCache(None)
    if not root.is_dir():
        log.info("hash cache kept in memory only: scratch root %s is not a folder", root)
        return HashCache(None)
    return HashCache(hash_cache_path(root))


def stat_key(path: Path | str) -> str | None:
    """The entry key of a file as it is now (None: it cannot be read)."""
    try:
        real = os.path.realpath(path)
        info = os.stat(real)
    except OSError:
        return None
    text = f"{real}\0{info.st_size}\0{info.st_mtime_ns}"
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


class HashCache:
    """The cached hashes of one scratch root (``path=None``: an in-memory cache, not kept).

    Attributes:
        decoded: images decoded by this object (a second check of the same files: 0).
        read: files whose bytes were read for their SHA-256.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, list] = {}
        self.decoded = 0
        self.read = 0
        self._changed = False
        self._now = int(time.time())
        if path is not None:
            self.entries = _load(path)

    def digests(self, paths: Sequence[Path], workers: int = 8) -> list[str | None]:
        """SHA-256 of each file (None: unreadable), reading only files not seen as they are."""
        keys = [stat_key(p) for p in paths]
        missing = [(k, p) for k, p in zip(keys, paths, strict=True) if k and k not in self.entries]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            digests = list(pool.map(lambda kp: _digest(kp[1]), missing))
        for (key, _), digest in zip(missing, digests, strict=True):
            self.read += 1
            if digest is not None:
                self.entries[key] = [digest, None, self._now]
                self._changed = True
        return [self._hit(k)[0] if k in self.entries else None for k in keys]

    def signatures(self, paths: Sequence[Path], workers: int = 8) -> list[Signature | None]:
        """The hashes of each image (None: unreadable or not an image), decoding only files
        whose content has none yet."""
        digests = self.digests(paths, workers)
        keys = [stat_key(p) for p in paths]
        known: dict[str, str] = {}
        for entry in self.entries.values():  # [digest, hashes or None, ...]
            if entry[1] is not None:
                known[entry[0]] = entry[1]
        todo = {d: p for d, p, k in zip(digests, paths, keys, strict=True) if d and d not in known}
        computed = _compute_signatures(list(todo.values()), workers)
        self.decoded += len(todo)
        for new_digest, value in zip(todo, computed, strict=True):
            known[new_digest] = _UNDECODED if value is None else "".join(f"{v:016x}" for v in value)
        result: list[Signature | None] = []
        for key, digest in zip(keys, digests, strict=True):
            if key is None or digest is None:
                result.append(None)
                continue
            entry = self.entries[key]
            if entry[1] is None:
                entry[1], self._changed = known[digest], True
            result.append(_signature(entry[1]))
        return result

    def _hit(self, key: str) -> list:
        entry = self.entries[key]
        if self._now - entry[2] > TOUCH_AFTER_S:
            entry[2], self._changed = self._now, True
        return entry

    def save(self) -> None:
        """Write the cache if it changed (atomically; the least recently used entries beyond
        ``MAX_ENTRIES`` dropped). A cache that cannot be written is only logged."""
        if self.path is None or not self._changed:
            return
        entries = self.entries
        if len(entries) > MAX_ENTRIES:
            newest = sorted(entries.items(), key=lambda item: item[1][2])[-MAX_ENTRIES:]
            entries = dict(newest)
        document = {
            "hash_cache_version": HASH_CACHE_VERSION,
            "hash_kind": HASH_KIND,
            "entries": {key: tuple(entry) for key, entry in entries.items()},
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            payload = HASH_CACHE_ADAPTER.dump_json(document)  # type: ignore[arg-type]  # built to its schema above
            atomic_write_bytes(self.path, payload, durable=False)
        except OSError as exc:
            log.warning("hash cache %s not written: %s", self.path, exc)
            return
        self._changed = False


def _signature(text: str) -> Signature | None:
    if not text:
        return None
    return (int(text[:16], 16), int(text[16:32], 16), int(text[32:48], 16), int(text[48:], 16))


def _digest(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None


def _load(path: Path) -> dict[str, list]:
    """The entries of a valid cache file; empty (rebuilt) when missing, too large, damaged,
    from another version or of another hash."""
    try:
        if path.is_symlink() or path.stat().st_size > MAX_BYTES:
            log.info(
                "hash cache %s: not a regular file of at most %d bytes, rebuilt", path, MAX_BYTES
            )
            return {}
        data = HASH_CACHE_ADAPTER.validate_json(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValidationError, ValueError) as exc:
        log.info("hash cache %s does not validate, rebuilt: %s", path, str(exc)[:200])
        return {}
    if data["hash_kind"] != HASH_KIND:
        return {}
    return {key: list(entry) for key, entry in data["entries"].items()}
