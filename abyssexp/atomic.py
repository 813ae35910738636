"""Atomic file writes: a temporary name in the same folder, fsync, rename.

A kill at any moment leaves either the old file or the new one, never a torn one: ``os.replace``
is atomic within one file system, and the fsync before it makes sure the new bytes are on disk
before the name points at them.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from abyssexp.owned import check_path, make_dirs


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: mkstemp creates files 0600; written files get the usual 0666 & ~umask so teammates can read them.
FILE_MODE = 0o666 & ~_current_umask()


_DEFERRED = threading.local()

#: ``ABYSSEXP_TEST_FSYNC=0`` turns every fsync and sync off: the test suite's setting (as Git's
#: ``GIT_TEST_FSYNC``), where thousands of small files are written beside trainings and a sync
#: waits for their checkpoints too. Renames stay atomic, so a killed process still leaves the
#: old file or the new one; only a power cut could lose what was written. Never for real work.
TEST_FSYNC = "ABYSSEXP_TEST_FSYNC"


def _flushing() -> bool:
    """Whether fsync and sync run (always, but in the test suite: ``TEST_FSYNC``)."""
    return os.environ.get(TEST_FSYNC) != "0"


def flush(fd: int) -> None:
    """``os.fsync(fd)``: the one place abyssexp makes a file's bytes durable."""
    if _flushing():
        os.fsync(fd)


@contextmanager
def deferred_sync() -> Iterator[None]:
    """Inside the block, atomic writes skip their own fsyncs; leaving it, one ``os.sync()`` makes
    everything written durable at once.

    For trees built under a hidden name and renamed into place only after the block (a sweep's
    trials): hundreds of files cost one flush instead of two fsyncs each.
    """
    depth = getattr(_DEFERRED, "depth", 0)
    _DEFERRED.depth = depth + 1
    try:
        yield
    finally:
        _DEFERRED.depth = depth
    if depth == 0 and _flushing():
        os.sync()


def _deferred() -> bool:
    return getattr(_DEFERRED, "depth", 0) > 0


def fsync_dir(path: Path) -> None:
    """Flush a directory entry so a rename inside it survives a power cut."""
    if _deferred():
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        flush(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(target: Path | str, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is fsynced and renamed over it.

    Use this for writers that want a path (Keras ``model.save``, ``shutil.copy``). On an exception
    the temporary file is removed and ``target`` is left as it was. ``durable=False`` skips the
    fsyncs, for caches that are checked when read (a power cut may then lose the new file, or
    leave it empty, but never torn into something that passes the check).
    """
    target = Path(target)
    if target.is_dir():  # say so naming the target, not the temporary the rename would fail on
        raise IsADirectoryError(errno.EISDIR, "is a folder; give a file name", str(target))
    make_dirs(target.parent)  # below a root: never through a symlinked folder (owned.py)
    check_path(target)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, FILE_MODE)
    try:
        yield tmp
        if durable and not _deferred():
            with open(tmp, "rb+") as handle:
                flush(handle.fileno())
        os.replace(tmp, target)
        if durable:
            fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(target: Path | str, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``target`` atomically (``durable``: see ``atomic_path``)."""
    with atomic_path(target, durable=durable) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: Path | str, text: str, *, durable: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically (``durable``: see ``atomic_path``)."""
    atomic_write_bytes(target, text.encode("utf-8"), durable=durable)


def atomic_write_json(target: Path | str, data: Any, *, indent: int | None = 2) -> None:
    """Serialise ``data`` as JSON and write it atomically; every JSON file abyssexp writes goes here."""
    text = json.dumps(data, indent=indent, sort_keys=False, default=_json_default)
    atomic_write_text(target, text + "\n")


def atomic_copy(source: Path | str, target: Path | str) -> None:
    """Copy ``source`` to ``target`` atomically (the target never exists half-copied)."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if getattr(value, "ndim", 0) and hasattr(value, "tolist"):  # numpy arrays
        return value.tolist()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")
