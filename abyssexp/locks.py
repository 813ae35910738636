"""Advisory file locks shared by the experiment record, the training lock and the store registry."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from abyssexp.errors import ExperimentStateError
from abyssexp.owned import open_lock_file


@contextmanager
def file_lock(path: Path | str, *, timeout: float = 60.0, what: str = "file") -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing, never through a symlink).

    Blocks up to ``timeout`` seconds; ``flock`` is released by the kernel when the process dies, so a
    killed holder never leaves a stale lock behind.
    """
    path = Path(path)
    fd = open_lock_file(path)  # never through a symlink (owned.py)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ExperimentStateError(
                        f"{path}: could not lock the {what} within {timeout:.0f} s; "
                        "another abyssexp process holds it"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def try_lock(path: Path | str) -> int | None:
    """Take a non-blocking exclusive lock and return its descriptor, or None when it is held.

    The caller keeps the descriptor open for as long as it holds the lock (a whole training run).
    """
    path = Path(path)
    fd = open_lock_file(path)  # never through a symlink (owned.py)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def release_lock(fd: int) -> None:
    """Release a lock taken with ``try_lock``."""
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
