"""An object-storage store (``s3://BUCKET/PREFIX``) through fsspec: the few operations the store
needs, conditional writes included, each failure one ``StoreError`` line naming the URL.

Keys are ``/``-separated and relative to the store's root URL. Credentials, region and the
endpoint come from the usual AWS configuration, which botocore reads: ``AWS_PROFILE`` or
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, and for an
S3-compatible server (MinIO, Ceph, a test server) ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``.

Two writes are conditional, and the store's guarantees rest on them (S3 has honoured both since
2024; an S3-compatible server that does not is refused with one line):

* ``create``: ``If-None-Match: *``, written only if the key does not exist (an entry, a claim);
* ``replace``: ``If-Match: <ETag>``, written only if the object is still the one read (the
  registry, a claim taken over): optimistic concurrency without a lock object.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from abyssexp.config import StoreURL
from abyssexp.errors import OptionalDependencyError, StoreError
from abyssexp.hashing import CHUNK

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

EXTRA = {"s3": "s3"}  # scheme → the pip extra that installs its client
CREDENTIALS_HINT = "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
ENDPOINT_HINT = "check the bucket, the network and AWS_ENDPOINT_URL_S3 (S3-compatible servers)"


def _codes(exc: BaseException) -> set[str]:
    """The S3 error codes and HTTP statuses along an exception's cause chain."""
    found: set[str] = set()
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            found.add(str(response.get("Error", {}).get("Code")))
            found.add(str(response.get("ResponseMetadata", {}).get("HTTPStatusCode")))
        seen = seen.__cause__ or seen.__context__
    return found


def _precondition_failed(exc: BaseException) -> bool:
    codes = _codes(exc)
    if codes & {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}:
        return True
    return isinstance(exc, FileExistsError) or "pre-condition" in str(exc)


class ObjectStore:
    """A store root on object storage; see the module docstring."""

    def __init__(self, root: StoreURL, fs: AbstractFileSystem) -> None:
        self.root = root
        self.fs = fs

    def url(self, key: str = "") -> str:
        return self.root.child(key).url

    def _path(self, key: str) -> str:
        return "/".join(p for p in (self.root.bucket, self.root.prefix, key) if p)

    @contextmanager
    def _failures(self, key: str, doing: str) -> Iterator[None]:
        """Any failure but the ones the caller handles → one ``StoreError`` line."""
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            name = type(exc).__name__
            if name in ("NoCredentialsError", "PartialCredentialsError"):
                raise StoreError(
                    f"{self.url(key)}: {doing}: no credentials; {CREDENTIALS_HINT}"
                ) from None
            if isinstance(exc, PermissionError):
                raise StoreError(
                    f"{self.url(key)}: {doing}: access denied ({exc}); {CREDENTIALS_HINT} with "
                    "rights to this bucket"
                ) from None
            if "NotImplemented" in _codes(exc):
                raise StoreError(
                    f"{self.url(key)}: {doing}: the server does not support conditional writes "
                    "(If-None-Match / If-Match), which abyssexp needs to never overwrite a "
                    "promotion; use AWS S3 or a server that supports them"
                ) from None
            raise StoreError(
                f"{self.url(key)}: {doing} failed ({name}: {exc}); {ENDPOINT_HINT}"
            ) from None

    def read(self, key: str) -> bytes | None:
        """The object's bytes; None when there is no such object."""
        with self._failures(key, "reading"):
            try:
                return bytes(self.fs.cat_file(self._path(key)))
            except FileNotFoundError:
                self._check_bucket(key)
                return None

    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and an ETag no newer than them (HEAD, then GET: a ``replace`` with
        that tag fails if the object changed after the HEAD); None when absent."""
        with self._failures(key, "reading"):
            try:
                etag = str(self.fs.info(self._path(key))["ETag"])
                return self.fs.cat_file(self._path(key)), etag
            except FileNotFoundError:
                self._check_bucket(key)
                return None

    def _check_bucket(self, key: str) -> None:
        if not self.fs.exists(self.root.bucket):
            raise StoreError(
                f"{self.url(key)}: bucket {self.root.bucket!r} does not exist (or is not "
                f"visible with these credentials); create it, or {ENDPOINT_HINT}"
            )

    def exists(self, key: str) -> bool:
        with self._failures(key, "looking up"):
            return bool(self.fs.exists(self._path(key)))

    def write(self, key: str, data: bytes) -> None:
        with self._failures(key, "writing"):
            self.fs.pipe_file(self._path(key), data)

    def create(self, key: str, data: bytes) -> bool:
        """Write ``data`` only if ``key`` does not exist (``If-None-Match: *``); whether written."""
        with self._failures(key, "creating"):
            try:
                self.fs.pipe_file(self._path(key), data, IfNoneMatch="*")
            except Exception as exc:
                if _precondition_failed(exc):
                    return False
                raise
            return True

    def replace(self, key: str, data: bytes, etag: str) -> bool:
        """Overwrite ``key`` only if it is still ``etag`` (``If-Match``); whether written."""
        with self._failures(key, "replacing"):
            try:
                self.fs.pipe_file(self._path(key), data, IfMatch=etag)
            except Exception as exc:
                if _precondition_failed(exc) or isinstance(exc, FileNotFoundError):
                    return False
                raise
            return True

    def upload(self, local: Path, key: str, advance: Callable[[int], None]) -> None:
        from fsspec.callbacks import Callback

        class _Progress(Callback):  # type: ignore[misc]  # fsspec ships no types: Callback is Any
            def relative_update(self, inc: int = 1) -> None:
                advance(inc)

        with self._failures(key, f"uploading {local}"):
            self.fs.put_file(str(local), self._path(key), callback=_Progress())

    def sha256(self, key: str) -> str | None:
        """SHA-256 of the object's bytes as the server returns them now; None when absent."""
        digest = hashlib.sha256()
        with self._failures(key, "reading back"):
            try:
                with self.fs.open(self._path(key), "rb", block_size=8 * CHUNK) as handle:
                    for block in iter(lambda: handle.read(8 * CHUNK), b""):
                        digest.update(block)
            except FileNotFoundError:
                return None
        return digest.hexdigest()

    def download(self, key: str, target: Path) -> str:
        """Copy the object to the local file ``target``; returns the sha256 of what was written."""
        digest = hashlib.sha256()
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._failures(key, "downloading"):
            with self.fs.open(self._path(key), "rb", block_size=8 * CHUNK) as reader:
                with open(target, "wb") as writer:
                    for block in iter(lambda: reader.read(8 * CHUNK), b""):
                        digest.update(block)
                        writer.write(block)
        return digest.hexdigest()

    def list(self, key: str = "") -> dict[str, int]:
        """Every object under ``key`` (recursively): key relative to ``key`` → size."""
        base = self._path(key)
        with self._failures(key, "listing"):
            self.fs.invalidate_cache()
            found = self.fs.find(base, detail=True)
        prefix = base.rstrip("/") + "/"
        return {
            path[len(prefix) :]: int(info.get("size") or 0)
            for path, info in found.items()
            if path.startswith(prefix) and info.get("type") != "directory"
        }

    def delete(self, keys: builtins.list[str]) -> None:  # ``list`` here is the method above
        if not keys:
            return
        with self._failures(keys[0], f"deleting {len(keys)} object(s)"):
            self.fs.rm([self._path(k) for k in keys])


def connect(root: StoreURL) -> ObjectStore:
    """The object store at ``root``.

    Raises:
        OptionalDependencyError: its client is not installed (one line: what to pip install).
    """
    try:
        import s3fs
    except ImportError:
        raise OptionalDependencyError(
            f"{root}: object-storage stores need s3fs; install it with "
            f"pip install 'abyssexp[{EXTRA[root.scheme]}]'"
        ) from None
    # No listing cache: another process may have changed the store since the last listing.
    return ObjectStore(root, s3fs.S3FileSystem(use_listings_cache=False, skip_instance_cache=True))
