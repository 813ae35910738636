"""A promotion's temporary folder and who owns it.

A promotion copies into ``<type dir>/.tmp-<name>-<random>/``. Before creating it, it writes the
owner file ``.tmp-<name>-<random>.owner.json`` beside it (``{"host", "pid", "started"}``) and
holds an exclusive ``flock`` on that file until the temporary is renamed into place or removed;
the kernel releases the lock when the process dies. No name is ever parsed: host names may hold
any character.

A temporary is *stale*, and removed by the next promotion into the same folder or by
``store repair``, when its owner file's lock is free and its owner is a process of this host
that no longer exists. A temporary of another host is never removed automatically (a lock taken
on another machine may not be visible here): ``store repair`` reports it. A temporary without an
owner file (from an older abyssexp) is removed once it is older than ``ORPHAN_AGE_S``.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abyssexp.atomic import atomic_write_json
from abyssexp.experiment.record_file import utc_now
from abyssexp.locks import release_lock, try_lock
from abyssexp.owned import rmtree_inside, unlink_inside
from abyssexp.processes import GONE, own_identity, owner_state, this_host
from abyssexp.processes import LIVE as PROCESS_LIVE
from abyssexp.schemas.process_owner import load_owner

TMP_PREFIX = ".tmp-"
OWNER_SUFFIX = ".owner.json"
#: A temporary without an owner file older than this is abandoned (the owner file is written
#: before the folder is created, so only an older abyssexp leaves one without it).
ORPHAN_AGE_S = 24 * 3600.0

LIVE, STALE, OTHER_HOST, UNKNOWN, NOT_A_FOLDER = (
    "live",
    "stale",
    "other host",
    "unknown owner",
    "not a folder",
)


def owner_file_of(temporary: Path) -> Path:
    return temporary.with_name(temporary.name + OWNER_SUFFIX)


@contextmanager
def claimed_temporary(type_dir: Path, name: str) -> Iterator[Path]:
    """Create an owned temporary folder for promoting ``name``; yield its path.

    The body renames it into place, or raises: then the temporary is removed. Either way the
    owner file goes and its lock is released when the block ends.
    """
    temporary = type_dir / f"{TMP_PREFIX}{name}-{uuid.uuid4().hex[:12]}"
    owner = owner_file_of(temporary)
    pid, start = own_identity()
    atomic_write_json(
        owner,
        {"host": this_host(), "pid": pid, "started": utc_now(), "process_start": start},
    )
    fd = try_lock(owner)  # a fresh random name: nobody else holds it
    try:
        temporary.mkdir()
        try:
            yield temporary
        except BaseException:
            rmtree_inside(temporary, type_dir)
            raise
    finally:
        unlink_inside(owner, type_dir)
        if fd is not None:
            release_lock(fd)


@dataclass
class Temporary:
    path: Path
    state: str
    host: str | None = None
    pid: int | None = None
    started: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}

    def describe(self) -> str:
        owner = f"host {self.host}, pid {self.pid}, started {self.started}"
        return {
            LIVE: f"{self.path} ({owner}): a promotion in progress",
            STALE: f"{self.path} ({owner}): its process is gone",
            OTHER_HOST: f"{self.path} ({owner}): another host's; remove it by hand "
            f"(rm -rf) once no promotion runs on {self.host}",
            UNKNOWN: f"{self.path}: no owner file; removed automatically once older than "
            f"{ORPHAN_AGE_S / 3600:.0f} h",
            NOT_A_FOLDER: f"{self.path}: not a folder (a symlink?); left alone",
        }[self.state]


def _lock_held(path: Path) -> bool | None:
    """Whether a process holds ``path``'s flock; None when that cannot be told."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None  # e.g. ENOLCK on a file system without locks
    finally:
        os.close(fd)  # closing releases a lock taken here
    return False


def classify(temporary: Path, now: float | None = None) -> Temporary:
    """Whose ``temporary`` is, and whether it may be removed (``state`` STALE).

    Raises:
        FileNotFoundError: it is gone (renamed into place or removed by its owner meanwhile).
    """
    now = time.time() if now is None else now
    if not os.path.lexists(temporary):
        raise FileNotFoundError(temporary)
    if temporary.is_symlink() or not temporary.is_dir():
        return Temporary(temporary, NOT_A_FOLDER)
    return _by_owner_file(temporary, owner_file_of(temporary), now)


def _by_owner_file(subject: Path, owner: Path, now: float) -> Temporary:
    held = _lock_held(owner)
    data = load_owner(owner)
    try:
        if data is None:
            raise ValueError(owner)
        host, pid, started = data["host"], data["pid"], str(data.get("started"))
        start = data.get("process_start")  # absent in owner files of older versions
        start = int(start) if start is not None else None
    except ValueError:
        if held:
            return Temporary(subject, LIVE)
        old = now - subject.lstat().st_mtime > ORPHAN_AGE_S
        return Temporary(subject, STALE if old else UNKNOWN)
    found = Temporary(subject, LIVE, host, pid, started)
    state = owner_state(host, pid, start)
    if held or held is None and state == PROCESS_LIVE:
        return found
    if host != this_host():
        found.state = OTHER_HOST
    elif state == GONE:
        found.state = STALE
    return found


def scan_temporaries(type_dir: Path) -> list[Temporary]:
    """Every temporary (and owner file left without one) in a project/type folder."""
    found: list[Temporary] = []
    if not type_dir.is_dir() or type_dir.is_symlink():
        return found
    now = time.time()
    for entry in sorted(type_dir.iterdir()):
        if not entry.name.startswith(TMP_PREFIX):
            continue
        try:
            if entry.name.endswith(OWNER_SUFFIX):
                folder = entry.with_name(entry.name.removesuffix(OWNER_SUFFIX))
                if not os.path.lexists(folder):
                    found.append(_by_owner_file(entry, entry, now))
                continue
            found.append(classify(entry, now))
        except FileNotFoundError:
            continue  # renamed into place or removed by its owner while we looked
    return found


def remove_stale(type_dir: Path) -> tuple[list[Temporary], list[Temporary]]:
    """Remove the stale temporaries of ``type_dir``; returns (removed, left)."""
    removed: list[Temporary] = []
    left: list[Temporary] = []
    for temporary in scan_temporaries(type_dir):
        if temporary.state != STALE:
            left.append(temporary)
            continue
        if temporary.path.name.endswith(OWNER_SUFFIX):
            unlink_inside(temporary.path, type_dir)
        else:
            rmtree_inside(temporary.path, type_dir)
            owner = owner_file_of(temporary.path)
            if owner.exists():
                unlink_inside(owner, type_dir)
        (left if os.path.lexists(temporary.path) else removed).append(temporary)
    return removed, left
