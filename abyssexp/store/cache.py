"""Promoted models downloaded from an object store, for ``predict`` and ``export``.

A model at ``s3://BUCKET/PREFIX/<project>/<type>/<name>`` is downloaded whole (every object its
manifest lists) into ``<cache root>/store/s3/BUCKET/PREFIX/<project>/<type>/<name>/``
(``config.cache_root()``: ``$ABYSSEXP_CACHE``, else ``~/.cache/abyssexp``). Each file's sha256 is
compared with the manifest as it is downloaded, into a temporary folder renamed into place when
complete. Every later use reads the manifest from the store again and re-hashes the cached
files, so a cached copy that differs from the store (changed on either side) is downloaded anew;
the cache may be deleted at any time.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path, PurePosixPath

from abyssexp.config import StoreURL, cache_root
from abyssexp.errors import StoreError
from abyssexp.hashing import sha256_file
from abyssexp.owned import rmtree_inside
from abyssexp.store.manifest import MANIFEST
from abyssexp.store.objectstore import connect
from abyssexp.store.registry import EntryUnreadableError
from abyssexp.store.remote_promote import parse_manifest, read_entry

CACHE_DIR = "store"


def cache_folder(model: StoreURL) -> Path:
    """Where ``model`` is cached (its URL's parts, checked when it was parsed, as folders)."""
    return cache_root() / CACHE_DIR / model.scheme / model.bucket / Path(*model.prefix.split("/"))


def _safe(relative: str) -> bool:
    path = PurePosixPath(relative)
    return bool(relative) and not path.is_absolute() and ".." not in path.parts


def _intact(folder: Path, manifest: bytes, expected: dict[str, str]) -> bool:
    try:
        if (folder / MANIFEST).read_bytes() != manifest:
            return False
        return all(sha256_file(folder / r) == d for r, d in expected.items())
    except OSError:
        return False


def cached_model(model: StoreURL) -> Path:
    """A local folder holding the promoted model at ``model``, checked against its manifest.

    Raises:
        StoreError: not a promoted model (no committed entry), an object that differs from the
            manifest, or the store cannot be reached.
    """
    objects = connect(model)
    try:
        read_entry(objects, "")
    except EntryUnreadableError as exc:
        raise StoreError(
            f"{model}: not a promoted model ({exc}); list them with `abyssexp promoted`"
        ) from None
    manifest = objects.read(MANIFEST) or b""
    expected = parse_manifest(manifest)
    unsafe = sorted(r for r in expected if not _safe(r))
    if unsafe:
        raise StoreError(
            f"{objects.url(MANIFEST)}: lists a path outside the model ({unsafe[0]!r}); run "
            f"`abyssexp verify {model}`"
        )
    folder = cache_folder(model)
    if _intact(folder, manifest, expected):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = folder.with_name(f".tmp-{folder.name}-{uuid.uuid4().hex[:12]}")
    try:
        for relative, digest in sorted(expected.items()):
            if objects.download(relative, temporary / relative) != digest:
                raise StoreError(
                    f"{objects.url(relative)}: sha256 differs from its manifest; run "
                    f"`abyssexp verify {model}`"
                )
        (temporary / MANIFEST).write_bytes(manifest)
        if os.path.lexists(folder):
            rmtree_inside(folder, folder.parent)  # an outdated or damaged copy
        try:
            os.rename(temporary, folder)
        except OSError:
            if not _intact(folder, manifest, expected):  # not another download's, just made
                raise StoreError(f"{folder}: cannot be replaced; delete it and retry") from None
    finally:
        if os.path.lexists(temporary):
            rmtree_inside(temporary, folder.parent)
    return folder
